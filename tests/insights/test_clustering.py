"""Online clustering: join the nearest centroid or open a cluster; stable ids; one voice each."""

from __future__ import annotations

import itertools

import numpy as np

from services.insights.domain.clustering import OnlineClusterer, cluster_batch, representatives


def ids() -> OnlineClusterer:
    counter = itertools.count(1)
    return OnlineClusterer(new_id=lambda: f"k{next(counter)}", threshold=0.8)


def near(axis: int, wobble: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.zeros(8)
    v[axis] = 1.0
    return v + wobble * rng.standard_normal(8) / 8


def test_a_close_message_joins_and_a_far_one_opens_a_cluster() -> None:
    clusterer = ids()
    first = clusterer.assign(near(0, seed=1), fingerprint="a")
    second = clusterer.assign(near(0, seed=2), fingerprint="b")
    third = clusterer.assign(near(3, seed=3), fingerprint="c")
    assert (first.created, second.created, third.created) == (True, False, True)
    assert second.cluster_id == first.cluster_id == "k1"
    assert third.cluster_id == "k2"
    assert clusterer.clusters["k1"].count == 2


def test_a_near_identical_message_is_linked_but_counted_once_and_a_member_once() -> None:
    clusterer = ids()
    clusterer.assign(near(0, seed=1), fingerprint="same", member="ann")
    again = clusterer.assign(near(5, seed=9), fingerprint="same", member="ann")
    clusterer.assign(near(0, seed=2), fingerprint="other", member="ann")
    assert again.duplicate and again.cluster_id == "k1"
    assert clusterer.clusters["k1"].count == 2
    assert clusterer.clusters["k1"].members == {"ann"}


def test_merging_keeps_the_larger_clusters_id() -> None:
    clusterer = OnlineClusterer(new_id=iter(["big", "small"]).__next__, threshold=0.99)
    for seed in range(3):
        clusterer.assign(near(0, wobble=0.01, seed=seed), fingerprint=f"b{seed}")
    clusterer.assign(near(0, wobble=0.6, seed=7), fingerprint="s")
    assert set(clusterer.clusters) == {"big", "small"}
    assert clusterer.merge_close(0.9) == {"small": "big"}
    assert clusterer.clusters["big"].count == 4


def test_a_batch_is_numbered_by_first_appearance_and_centring_separates_topics() -> None:
    common = np.ones(8)  # a direction every embedding shares, as real ones do
    vectors = [common + near(i % 2, seed=i) for i in range(6)]
    labels = cluster_batch(vectors, [str(i) for i in range(6)], threshold=0.5)
    assert labels == ["c1", "c2", "c1", "c2", "c1", "c2"]
    uncentred = cluster_batch(vectors, [str(i) for i in range(6)], threshold=0.5, centre=False)
    assert set(uncentred) == {"c1"}


def test_representatives_are_the_messages_closest_to_the_middle() -> None:
    vectors = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.7, 0.7]]
    assert representatives(vectors, k=2) == [3, 1]
