"""Apply a community's ruleset to one message: which rules match, the verdict, the scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.moderation.classifier.features import language_of
from services.moderation.classifier.model import Classifier, default_classifier
from services.moderation.domain.detectors import (
    CapsDetector,
    FloodDetector,
    KeywordDetector,
    LinkDetector,
    MentionDetector,
    Message,
    RegexDetector,
    RegexTimeout,
)
from services.moderation.domain.rules import (
    DEFAULT_CLASSIFIER,
    Action,
    CapsRule,
    Exempt,
    FloodRule,
    KeywordsRule,
    LinksRule,
    MentionsRule,
    RegexRule,
    Rule,
    RuleSet,
)
from shared.events.payloads import Verdict

DEFAULT_REGEX_TIMEOUT = 0.05
"""Seconds one pattern may run on one message before it is cut off."""

_VERDICT_OF = {Action.FLAG: Verdict.FLAG, Action.HIDE: Verdict.HIDE, Action.REMOVE: Verdict.REMOVE}
_SEVERITY = [Verdict.ALLOW, Verdict.FLAG, Verdict.HIDE, Verdict.REMOVE]
_CATEGORY = {
    "keywords": "profanity",
    "regex": "pattern",
    "links": "links",
    "mentions": "mention_spam",
    "caps": "caps",
    "flood": "flood",
}

Detector = KeywordDetector | RegexDetector | LinkDetector | MentionDetector | CapsDetector


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule that matched, with what it asks for."""

    rule_id: str
    action: Action
    reason: str
    category: str
    score: float


@dataclass(frozen=True)
class Evaluation:
    """The outcome for one message."""

    verdict: Verdict
    hits: list[Hit]
    scores: dict[str, float]
    language: str
    timed_out: list[str] = field(default_factory=list)
    """Rules whose pattern was cut off by its time bound (counted as not matching)."""
    exempt: bool = False
    model_version: str | None = None
    """The classifier model that scored the message (None when the classifier is off)."""

    @property
    def deciding(self) -> Hit | None:
        """The first of the matching rules whose action is the verdict."""
        for hit in self.hits:
            if _VERDICT_OF[hit.action] == self.verdict:
                return hit
        return None


def strongest(verdicts: list[Verdict]) -> Verdict:
    """The most severe verdict: remove > hide > flag > allow."""
    return max(verdicts, key=_SEVERITY.index, default=Verdict.ALLOW)


detect_language = language_of
"""`ru` or `en` by the letters used (Cyrillic against Latin), `und` without letters."""


def _exempted(exempt: Exempt, message: Message) -> bool:
    if not (exempt.channels or exempt.members or exempt.roles):
        return False  # most rules exempt nobody: no sets built per message
    return bool(
        (message.channel_id is not None and message.channel_id in exempt.channels)
        or message.author_ids & set(exempt.members)
        or message.roles & set(exempt.roles)
    )


def _detector(rule: Rule) -> Detector | FloodDetector:
    if isinstance(rule, KeywordsRule):
        return KeywordDetector(rule)
    if isinstance(rule, RegexRule):
        return RegexDetector(rule)
    if isinstance(rule, LinksRule):
        return LinkDetector(rule)
    if isinstance(rule, MentionsRule):
        return MentionDetector(rule)
    if isinstance(rule, CapsRule):
        return CapsDetector(rule)
    if isinstance(rule, FloodRule):
        return FloodDetector(rule)
    raise TypeError(f"no detector for {type(rule).__name__}")


class Engine:
    """A ruleset compiled once (keyword lists and patterns), applied to many messages."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        version: int = 0,
        regex_timeout: float = DEFAULT_REGEX_TIMEOUT,
        classifier: Classifier | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.version = version
        self.regex_timeout = regex_timeout
        self._compiled = [(rule, _detector(rule)) for rule in ruleset.rules if rule.enabled]
        self.classifier_config = ruleset.classifier or DEFAULT_CLASSIFIER
        self.classifier: Classifier | None = None
        if self.classifier_config.enabled:
            self.classifier = classifier or default_classifier()

    def evaluate_many(self, messages: Sequence[Message]) -> list[Evaluation]:
        """`evaluate` for many messages, the classifier run once on the whole batch.

        Flood rules see no history here (as in `/evaluate`)."""
        languages = [detect_language(message.text) for message in messages]
        model_scores: list[dict[str, float] | None] = [None] * len(messages)
        if self.classifier is not None:
            texts = [message.text for message in messages]
            model_scores = list(self.classifier.score_many(texts, languages))
        return [
            self.evaluate(message, model_scores=scores, language=language)
            for message, scores, language in zip(messages, model_scores, languages, strict=True)
        ]

    @property
    def flood_windows(self) -> set[int]:
        """The windows (seconds) the caller must count the member's recent messages in."""
        return {rule.per_seconds for rule, _ in self._compiled if isinstance(rule, FloodRule)}

    def evaluate(
        self,
        message: Message,
        recent: Mapping[int, int] | None = None,
        *,
        model_scores: Mapping[str, float] | None = None,
        language: str | None = None,
    ) -> Evaluation:
        """Every matching rule and classifier attribute over its threshold, the strongest
        action among them, and a score per category (the higher of rules and model).

        `recent[seconds]` counts the author's messages in that window, this one included;
        `model_scores` are the classifier's, when the caller scored a batch already, and
        `language` the text's, when the caller detected it already.
        """
        language = language or detect_language(message.text)
        if _exempted(self.ruleset.exempt, message):
            return Evaluation(Verdict.ALLOW, [], {}, language, exempt=True)
        hits: list[Hit] = []
        scores: dict[str, float] = {}
        timed_out: list[str] = []
        for rule, detector in self._compiled:
            if _exempted(rule.exempt, message):
                continue
            category = rule.category or _CATEGORY[rule.kind]
            try:
                if isinstance(detector, FloodDetector):
                    score = detector.score_counts(recent or {})
                else:
                    score = detector.score(message, self.regex_timeout)
            except RegexTimeout:
                timed_out.append(rule.id)
                continue
            scores[category] = max(scores.get(category, 0.0), score or 0.0)
            if score is not None:
                hits.append(Hit(rule.id, rule.action, rule.reason, category, round(score, 4)))
        model_version = None
        if self.classifier is not None:
            if model_scores is None:
                model_scores = self.classifier.score(message.text, language)
            model_version = self.classifier.version
            self._classify(model_scores, scores, hits)
        verdict = strongest([_VERDICT_OF[hit.action] for hit in hits])
        rounded = {name: round(value, 4) for name, value in scores.items()}
        return Evaluation(verdict, hits, rounded, language, timed_out, model_version=model_version)

    def _classify(
        self, model_scores: Mapping[str, float], scores: dict[str, float], hits: list[Hit]
    ) -> None:
        for attribute, score in model_scores.items():
            scores[attribute] = max(scores.get(attribute, 0.0), score)
            limits = self.classifier_config.attributes.get(attribute)  # type: ignore[call-overload]
            if limits is None:
                continue
            if score >= limits.threshold:
                action = limits.action
            elif limits.flag_at is not None and score >= limits.flag_at:
                action = Action.FLAG
            else:
                continue
            hits.append(
                Hit(f"classifier.{attribute}", action, attribute, attribute, round(score, 4))
            )
