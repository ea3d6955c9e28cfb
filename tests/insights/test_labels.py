"""Labels by c-TF-IDF: a cluster's own words, in each language it is written in."""

from __future__ import annotations

from services.insights.domain.labels import label_clusters
from services.insights.domain.text import fingerprint, language_of


def test_a_label_names_the_cluster_in_both_its_languages() -> None:
    labels = label_clusters(
        {
            "crash": [
                "The app crashes when I upload a photo",
                "Upload crashes the app",
                "Приложение вылетает при загрузке фото",
            ],
            "theme": ["Please add a dark theme to the app", "Добавьте тёмную тему"],
        }
    )
    assert labels["crash"].keywords[0] == "crashes"
    assert "app" not in labels["crash"].keywords[:2]  # in every cluster, so it ranks low
    assert any(language_of(w) == "ru" for w in labels["crash"].label.split(" · "))
    assert "dark" in labels["theme"].label and "темную" in labels["theme"].label


def test_fingerprints_ignore_case_punctuation_and_numbers() -> None:
    assert fingerprint("The app crashed 3 times!!") == fingerprint("the app  crashed 12 times")
    assert fingerprint("Ёлка") == fingerprint("елка")
    assert fingerprint("The app crashed") != fingerprint("The app froze")
