"""Uploaded rules are validated, and every error names its line and field."""

import pytest

from services.moderation.domain.rules import (
    DEFAULT_RULES,
    DEFAULT_RULES_YAML,
    CapsRule,
    RulesError,
    parse_rules,
)


def errors_of(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(RulesError) as raised:
        parse_rules(text)
    return [(e.line, e.field, e.message) for e in raised.value.errors]


def test_a_valid_ruleset_parses_with_defaults_filled_in() -> None:
    rules = parse_rules(
        "rules:\n"
        "  - id: shouting\n"
        "    kind: caps\n"
        "    max_ratio: 0.7\n"
        "    action: flag\n"
        "    reason: caps\n"
    )
    rule = rules.rules[0]
    assert isinstance(rule, CapsRule)
    assert rule.min_letters == 12


def test_a_wrong_value_names_its_line_and_field() -> None:
    text = (
        "rules:\n"
        "  - id: ok\n"
        "    kind: mentions\n"
        "    max: 3\n"
        "    action: hide\n"
        "    reason: mentions\n"
        "  - id: shouting\n"
        "    kind: caps\n"
        "    max_ratio: 7\n"
        "    action: flag\n"
        "    reason: caps\n"
    )
    [(line, field, message)] = errors_of(text)
    assert (line, field) == (9, "rules[1].max_ratio")
    assert "less than or equal to 1" in message


def test_a_missing_field_points_at_its_rule_and_an_unknown_one_at_itself() -> None:
    text = "rules:\n  - id: shouting\n    kind: caps\n    action: flag\n    colour: red\n"
    found = errors_of(text)
    assert (2, "rules[0].max_ratio", "Field required") in found
    assert (2, "rules[0].reason", "Field required") in found
    assert any(line == 5 and field == "rules[0].colour" for line, field, _ in found)


def test_an_unknown_kind_and_a_bad_action_are_named() -> None:
    text = (
        "rules:\n"
        "  - id: a\n"
        "    kind: telepathy\n"
        "    action: hide\n"
        "    reason: r\n"
        "  - id: b\n"
        "    kind: mentions\n"
        "    max: 2\n"
        "    action: obliterate\n"
        "    reason: r\n"
    )
    found = errors_of(text)
    assert found[0][:2] == (2, "rules[0]")
    assert "telepathy" in found[0][2]
    assert found[1][:2] == (9, "rules[1].action")


def test_a_regex_that_does_not_compile_is_refused_at_upload() -> None:
    text = (
        "rules:\n"
        "  - id: r\n"
        "    kind: regex\n"
        "    patterns:\n"
        "      - 'fine'\n"
        "      - '(unclosed'\n"
        "    action: flag\n"
        "    reason: r\n"
    )
    [(line, field, message)] = errors_of(text)
    assert (line, field) == (6, "rules[0].patterns[1]")
    assert "not a valid regular expression" in message


def test_yaml_syntax_errors_name_their_line() -> None:
    [(line, field, _)] = errors_of("rules:\n  - id: a\n    kind: [caps\n  - id: b\n")
    assert line is not None and line >= 3
    assert field == ""


def test_duplicate_rule_ids_and_a_non_mapping_document_are_refused() -> None:
    dup = "rules:\n" + "  - {id: a, kind: mentions, max: 1, action: flag, reason: r}\n" * 2
    assert "used twice" in errors_of(dup)[0][2]
    assert errors_of("- just\n- a list\n")[0][:2] == (1, "")


def test_the_default_ruleset_is_valid_and_covers_every_kind() -> None:
    assert parse_rules(DEFAULT_RULES_YAML) == DEFAULT_RULES
    kinds = {rule.kind for rule in DEFAULT_RULES.rules}
    assert kinds == {"keywords", "regex", "links", "mentions", "caps", "flood"}
