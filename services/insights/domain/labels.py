"""Cluster labels by class-based TF-IDF: words frequent in a cluster and rare in the others.

Each cluster's texts are one document; a word scores tf(word, cluster) · log(1 + A / f(word)),
where A is the average number of words per cluster and f the word's count over all
clusters (BERTopic's c-TF-IDF). The label names the top words of each language the
cluster is written in, so a cluster of English and Russian complaints reads in both.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.insights.domain.text import language_of, words


@dataclass(frozen=True)
class Label:
    """A cluster's keywords, best first, and a short label made of them."""

    keywords: list[str]
    label: str


def label_clusters(
    texts_by_cluster: Mapping[str, Sequence[str]], *, top: int = 6, per_language: int = 2
) -> dict[str, Label]:
    """A Label for every cluster, from the texts of all clusters given."""
    counts: dict[str, Counter[str]] = {}
    for cluster_id, texts in texts_by_cluster.items():
        counter: Counter[str] = Counter()
        for text in texts:
            counter.update(set(words(text)))  # a word counts once per message
        counts[cluster_id] = counter
    overall: Counter[str] = Counter()
    for counter in counts.values():
        overall.update(counter)
    average = sum(overall.values()) / max(len(counts), 1)
    labels = {}
    for cluster_id, counter in counts.items():
        total = sum(counter.values()) or 1
        scored = sorted(
            counter,
            key=lambda w: (-(counter[w] / total) * math.log(1 + average / overall[w]), w),
        )
        keywords = scored[:top]
        chosen: list[str] = []
        for language in ("en", "ru"):
            in_language = [w for w in keywords if language_of(w) == language]
            chosen.extend(in_language[:per_language])
        labels[cluster_id] = Label(keywords=keywords, label=" · ".join(chosen) or "(no words)")
    return labels
