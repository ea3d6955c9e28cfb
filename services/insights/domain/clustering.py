"""Online clustering of feedback embeddings: join the nearest running-mean centroid, or open one.

Every message is a unit vector. It joins the cluster whose centroid is most similar when
that cosine reaches `threshold`, else it opens a new micro-cluster. A cluster's centroid is
the running mean of the messages it counts, so an assignment costs one matrix-vector
product over the centroids. Similarities are taken after subtracting a `centre` (the mean
of the traffic) from both sides: raw sentence embeddings share a large common direction,
and removing it lets a fixed threshold separate topics (measured in bench/insights_quality.py).
Clusters keep raw sums, so the centre may move without rewriting them. Near-identical messages
(the same fingerprint) join the cluster of the first one and move nothing: feedback is
counted once, and each member is one voice however often they repeat it. Cluster ids are
handed out by the caller and never change; `merge_close` folds a smaller cluster into a
larger one whose centroid has come close, and the larger one keeps its id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.floating[Any]]

# Chosen on a 3,000-query sample of BANKING77's train split (never its test split, never
# the project's evaluation set): see docs/insights.md.
DEFAULT_THRESHOLD = 0.45
DEFAULT_MERGE_THRESHOLD = 0.7
PRIOR_WEIGHT = 50


def unit(vector: npt.ArrayLike, centre: Vector | None = None) -> Vector:
    """`vector` minus `centre` (when given), scaled to length 1."""
    v: Vector = np.asarray(vector, dtype=np.float32)
    if centre is not None:
        v = (v - centre).astype(np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


@dataclass
class Cluster:
    """A cluster as the clusterer keeps it: the sum of its unit vectors and who spoke."""

    id: str
    total: Vector
    count: int = 0
    members: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)

    @property
    def mean(self) -> Vector:
        """The running mean of the (raw, unit) vectors it counts."""
        return self.total / max(self.count, 1)

    def centroid(self, centre: Vector | None = None) -> Vector:
        """The direction of its mean, seen from `centre`."""
        return unit(self.mean, centre)


@dataclass(frozen=True)
class Assignment:
    """Where one message went."""

    cluster_id: str
    created: bool
    duplicate: bool
    """Near-identical to a message already clustered: linked, but counted once."""
    similarity: float
    """Cosine between the message and the centroid it joined (1.0 for a new cluster)."""


class OnlineClusterer:
    """Clusters that grow one message at a time (pure: no I/O, ids come from `new_id`)."""

    def __init__(
        self,
        *,
        new_id: Callable[[], str],
        threshold: float = DEFAULT_THRESHOLD,
        centre: Vector | None = None,
        clusters: Iterable[Cluster] = (),
    ) -> None:
        self.threshold = threshold
        self.centre = centre
        self._new_id = new_id
        self.clusters: dict[str, Cluster] = {}
        self._by_fingerprint: dict[str, str] = {}
        self._ids: list[str] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        for cluster in clusters:
            self._add(cluster)

    def assign(
        self, vector: npt.ArrayLike, *, fingerprint: str, member: str | None = None
    ) -> Assignment:
        """Put one message into its cluster and return where it went."""
        known = self._by_fingerprint.get(fingerprint)
        if known is not None:
            cluster = self.clusters[known]
            if member is not None:
                cluster.members.add(member)
            return Assignment(known, created=False, duplicate=True, similarity=1.0)
        raw = unit(vector)
        best, similarity = self._nearest(unit(raw, self.centre))
        if best is None or similarity < self.threshold:
            cluster = Cluster(id=self._new_id(), total=np.zeros_like(raw))
            self._add(cluster)
            created, similarity = True, 1.0
        else:
            cluster, created = self.clusters[best], False
        cluster.total = cluster.total + raw
        cluster.count += 1
        cluster.fingerprints.add(fingerprint)
        if member is not None:
            cluster.members.add(member)
        self._by_fingerprint[fingerprint] = cluster.id
        self._matrix[self._ids.index(cluster.id)] = cluster.centroid(self.centre)
        return Assignment(cluster.id, created=created, duplicate=False, similarity=similarity)

    def merge_close(self, threshold: float = DEFAULT_MERGE_THRESHOLD) -> dict[str, str]:
        """Fold clusters whose centroids reach `threshold` into the larger one.

        Returns absorbed id -> surviving id. Repeats until no two centroids are that close.
        """
        absorbed: dict[str, str] = {}
        while len(self._ids) > 1:
            similarities = self._matrix @ self._matrix.T
            np.fill_diagonal(similarities, -1.0)
            i, j = np.unravel_index(int(np.argmax(similarities)), similarities.shape)
            if similarities[i, j] < threshold:
                break
            a, b = self.clusters[self._ids[i]], self.clusters[self._ids[j]]
            keep, gone = (a, b) if (a.count, b.id) >= (b.count, a.id) else (b, a)
            keep.total = keep.total + gone.total
            keep.count += gone.count
            keep.members |= gone.members
            keep.fingerprints |= gone.fingerprints
            for fp in gone.fingerprints:
                self._by_fingerprint[fp] = keep.id
            for old, new in absorbed.items():
                if new == gone.id:
                    absorbed[old] = keep.id
            absorbed[gone.id] = keep.id
            self._drop(gone.id)
            self._matrix[self._ids.index(keep.id)] = keep.centroid(self.centre)
        return absorbed

    def _nearest(self, v: Vector) -> tuple[str | None, float]:
        if not self._ids:
            return None, -1.0
        similarities = self._matrix @ v
        best = int(np.argmax(similarities))
        return self._ids[best], float(similarities[best])

    def _add(self, cluster: Cluster) -> None:
        self.clusters[cluster.id] = cluster
        for fp in cluster.fingerprints:
            self._by_fingerprint[fp] = cluster.id
        row = cluster.centroid(self.centre)[None, :]
        self._matrix = row if not self._ids else np.vstack([self._matrix, row])
        self._ids.append(cluster.id)

    def _drop(self, cluster_id: str) -> None:
        index = self._ids.index(cluster_id)
        del self.clusters[cluster_id]
        del self._ids[index]
        self._matrix = np.delete(self._matrix, index, axis=0)


def blended_centre(
    prior: Vector | None, total: Vector, count: int, *, prior_weight: int = PRIOR_WEIGHT
) -> Vector:
    """The traffic's mean (`total` / `count` of unit vectors), pulled toward `prior`.

    `prior` counts as `prior_weight` messages, so a small batch or a young community is
    centred mostly by the prior (the mean of the intent training set) and a large one by
    its own traffic.
    """
    if prior is None:
        return total / max(count, 1)
    return (prior * prior_weight + total) / (prior_weight + count)


def cluster_batch(
    vectors: npt.ArrayLike,
    fingerprints: list[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    merge_threshold: float | None = DEFAULT_MERGE_THRESHOLD,
    prior_centre: Vector | None = None,
    centre: bool = True,
) -> list[str]:
    """Cluster ids (`c1`, `c2`, … in order of first appearance) for a batch, in input order.

    The batch is clustered online in its order, then close centroids are merged. With
    `centre`, similarities are taken from the batch mean (blended with `prior_centre`).
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if len(matrix) == 0:
        return []
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    units = matrix / np.where(norms > 0, norms, 1.0)
    mean = blended_centre(prior_centre, units.sum(axis=0), len(units)) if centre else None
    counter = iter(range(1, len(matrix) + 2))
    clusterer = OnlineClusterer(
        new_id=lambda: f"c{next(counter)}", threshold=threshold, centre=mean
    )
    ids = [
        clusterer.assign(row, fingerprint=fp).cluster_id
        for row, fp in zip(units, fingerprints, strict=True)
    ]
    if merge_threshold is not None:
        absorbed = clusterer.merge_close(merge_threshold)
        ids = [absorbed.get(cluster_id, cluster_id) for cluster_id in ids]
    renumber: dict[str, str] = {}
    for cluster_id in ids:
        renumber.setdefault(cluster_id, f"c{len(renumber) + 1}")
    return [renumber[cluster_id] for cluster_id in ids]


def representatives(vectors: npt.ArrayLike, k: int = 3) -> list[int]:
    """Indexes of the `k` rows closest to the rows' mean direction, closest first."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if len(matrix) == 0:
        return []
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    units = matrix / np.where(norms > 0, norms, 1.0)
    centroid = unit(units.mean(axis=0))
    order = np.argsort(-(units @ centroid), kind="stable")
    return [int(i) for i in order[:k]]
