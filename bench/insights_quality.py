"""Clustering quality of insights on BANKING77 and on our EN/RU evaluation set.

Prints ARI and NMI of the online clustering (as POST /v1/insights/analyze runs it) beside
KMeans with k known on the same embeddings, with the time each took, and the intent
accuracy on the evaluation set. BANKING77 is read from ../shared/datasets/banking77 (never
copied into the repository).

    .venv/bin/python bench/insights_quality.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from services.insights.domain.clustering import cluster_batch
from services.insights.domain.text import fingerprint
from services.insights.embedding import encode
from services.insights.intents import load_model
from services.insights.sentiment import load_model as load_sentiment

ROOT = Path(__file__).resolve().parents[1]
BANKING = ROOT.parent / "shared" / "datasets" / "banking77" / "test.csv"
EVAL = ROOT / "tests" / "insights" / "data" / "feedback_eval.json"
IDEAS = ROOT / "tests" / "insights" / "data" / "content_idea_eval.json"
SENTIMENT_EVAL = ROOT / "tests" / "insights" / "data" / "sentiment_eval.json"


def score(name: str, truth: list[str], found: list[str] | list[int], seconds: float) -> None:
    ari = adjusted_rand_score(truth, found)
    nmi = normalized_mutual_info_score(truth, found)
    print(
        f"  {name:<26} ARI {ari:.3f}  NMI {nmi:.3f}  clusters {len(set(found)):>4}  "
        f"{seconds * 1000:8.0f} ms"
    )


def compare(title: str, texts: list[str], truth: list[str]) -> np.ndarray:
    print(f"{title}: {len(texts)} texts, {len(set(truth))} groups")
    started = time.perf_counter()
    vectors = encode(texts)
    seconds = time.perf_counter() - started
    print(f"  embedding                  {seconds * 1000 / len(texts):.2f} ms per text")
    prints = [fingerprint(t) for t in texts]
    prior = load_model().centre
    started = time.perf_counter()
    online = cluster_batch(vectors, prints, prior_centre=prior)
    score("online (ours)", truth, online, time.perf_counter() - started)
    started = time.perf_counter()
    kmeans = KMeans(len(set(truth)), n_init=4, random_state=0).fit_predict(vectors)
    score("KMeans, k known", truth, list(kmeans), time.perf_counter() - started)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="first N BANKING77 rows only")
    args = parser.parse_args()
    with BANKING.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if args.limit:
        rows = rows[: args.limit]
    compare("BANKING77 test", [r["text"] for r in rows], [r["category"] for r in rows])

    items = json.loads(EVAL.read_text(encoding="utf-8"))["items"]
    texts, groups = [i["text"] for i in items], [i["group"] for i in items]
    vectors = compare("EN/RU evaluation set", texts, groups)
    labels = cluster_batch(
        vectors, [fingerprint(i["text"]) for i in items], prior_centre=load_model().centre
    )
    pairs = [
        labels[a] == labels[b]
        for a, b in itertools.combinations(range(len(items)), 2)
        if items[a]["group"] == items[b]["group"] and items[a]["language"] != items[b]["language"]
    ]
    print(f"  cross-language paraphrase pairs in one cluster: {np.mean(pairs):.1%}")
    predicted = load_model().predict(vectors)
    accuracy = np.mean([p == i["intent"] for p, i in zip(predicted, items, strict=True)])
    print(f"  intent accuracy: {accuracy:.3f}")

    ideas = json.loads(IDEAS.read_text(encoding="utf-8"))["items"]
    found = load_model().predict(encode([i["text"] for i in ideas]))
    print(
        f"content ideas (held out, {len(ideas)}): "
        f"{np.mean([p == 'content_idea' for p in found]):.2f} recognised"
    )
    moods = json.loads(SENTIMENT_EVAL.read_text(encoding="utf-8"))["items"]
    started = time.perf_counter()
    mood_vectors = encode([i["text"] for i in moods])
    guessed = load_sentiment().predict(mood_vectors)
    seconds = time.perf_counter() - started
    for language in ("en", "ru"):
        right = [
            g == i["sentiment"]
            for g, i in zip(guessed, moods, strict=True)
            if i["language"] == language
        ]
        print(f"sentiment accuracy ({language}, {len(right)} held out): {np.mean(right):.3f}")
    print(f"  sentiment incl. embedding: {seconds * 1000 / len(moods):.2f} ms per text")


if __name__ == "__main__":
    main()
