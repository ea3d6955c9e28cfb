# ruff: noqa: RUF001
"""Normalization: the readings of a text that undo filter-dodging tricks."""

from services.moderation.domain.normalize import base, forms


def test_zero_width_characters_and_soft_hyphens_are_removed() -> None:
    assert base("f\u200bu\u200cc\u200dk\u2060s\u00adh\ufeffit") == "fuckshit"


def test_full_width_and_styled_letters_become_plain_and_case_is_folded() -> None:
    assert base("ＦＵＣＫ 𝐟𝐮𝐜𝐤") == "fuck fuck"


def test_accents_are_stripped_but_russian_letters_keep_theirs() -> None:
    assert base("fück") == "fuck"
    assert base("ёлка йод") == "ёлка йод"


def test_cyrillic_look_alikes_read_as_latin_and_leetspeak_as_letters() -> None:
    assert forms("ѕһit").latin == "shit"
    assert forms("$h1t @ss").latin == "shit ass"


def test_latin_look_alikes_read_as_cyrillic() -> None:
    assert forms("cyka").cyrillic == "сука"
    assert forms("xyй").cyrillic == "хуй"


def test_cyrillic_is_transliterated() -> None:
    assert forms("блять").translit == "blyat"
