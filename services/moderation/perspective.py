"""Perspective API's `comments:analyze`, answered by Hearth's offline classifiers.

A team leaving Google's Perspective API (shut down on 31 December 2026) changes its
client's base URL to `<hearth>/v1/moderation/perspective` and keeps its code: the request
and response bodies, the `?key=` API key, `spanAnnotations`, `scoreThreshold`,
`clientToken` and the error shape (`{"error": {"code", "message", "status", "details"}}`)
are Perspective's. Nothing is stored, whatever `doNotStore` says, and no text is logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.moderation.classifier.features import language_of
from services.moderation.context import context_of
from services.moderation.domain.detectors import Message
from services.moderation.domain.engine import Engine
from shared.api.auth import Caller, require_scopes
from shared.api.problems import Problem

router = APIRouter(prefix="/perspective/v1alpha1", tags=["moderation"])

ATTRIBUTES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "INSULT": "insult",
    "THREAT": "threat",
    "PROFANITY": "profanity",
    "SEXUALLY_EXPLICIT": "sexual",
    "SPAM": "spam",
}
"""Perspective's attribute names Hearth scores, and the score each one reads."""

NOT_SCORED = frozenset(
    {
        "SEVERE_TOXICITY",
        "IDENTITY_ATTACK",
        "FLIRTATION",
        "ATTACK_ON_AUTHOR",
        "ATTACK_ON_COMMENTER",
        "INCOHERENT",
        "INFLAMMATORY",
        "LIKELY_TO_REJECT",
        "OBSCENE",
        "UNSUBSTANTIAL",
        "TOXICITY_EXPERIMENTAL",
        "SEVERE_TOXICITY_EXPERIMENTAL",
        "IDENTITY_ATTACK_EXPERIMENTAL",
        "INSULT_EXPERIMENTAL",
        "PROFANITY_EXPERIMENTAL",
        "THREAT_EXPERIMENTAL",
        "SEXUALLY_EXPLICIT_EXPERIMENTAL",
        "FLIRTATION_EXPERIMENTAL",
    }
)
"""Perspective's other attributes: refused as Perspective refuses an attribute in a
language it has no model for, which Perspective clients already handle."""

LANGUAGES = ("en", "ru")
MAX_TEXT_BYTES = 20 * 1024
"""Perspective's limit on `comment.text`."""

_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
_STATUS.update({404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"})


class PerspectiveError(Exception):
    """An error answered in Google's shape, with problem+json members beside it."""

    def __init__(
        self, message: str, *, code: int = 400, error_type: str | None = None, **detail: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.error_type = error_type
        self.detail = detail
        self.headers: dict[str, str] = {}

    def response(self) -> JSONResponse:
        """`{"error": {...}}` as Perspective answers, and RFC 9457's members."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "status": _STATUS.get(self.code, "INVALID_ARGUMENT"),
        }
        if self.error_type is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
                    "errorType": self.error_type,
                    **self.detail,
                }
            ]
        body = {"error": error, "type": "about:blank", "status": self.code}
        body.update(title=error["status"], detail=self.message)
        return JSONResponse(body, status_code=self.code, headers=self.headers)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class PerspectiveCommentIn(_Model):
    """The text to score."""

    text: str = Field(description="UTF-8 text, at most 20 KB.")
    type: str = Field(default="PLAIN_TEXT", description='Only "PLAIN_TEXT".')


class PerspectiveAttributeIn(_Model):
    """What to return for one attribute."""

    score_type: str = Field(default="PROBABILITY", alias="scoreType")
    score_threshold: float | None = Field(
        default=None, alias="scoreThreshold", description="Scores below it are left out."
    )


class PerspectiveAnalyzeIn(_Model):
    """Perspective's AnalyzeComment request."""

    comment: PerspectiveCommentIn
    requested_attributes: dict[str, PerspectiveAttributeIn] = Field(
        default_factory=dict,
        alias="requestedAttributes",
        description="TOXICITY, INSULT, THREAT, PROFANITY, SEXUALLY_EXPLICIT or SPAM, "
        "each with {} or scoreType / scoreThreshold.",
    )
    languages: list[str] = Field(
        default_factory=list, description="en and/or ru (BCP-47 tags too); detected if empty."
    )
    span_annotations: bool = Field(default=False, alias="spanAnnotations")
    do_not_store: bool = Field(
        default=False, alias="doNotStore", description="Nothing is ever stored."
    )
    client_token: str | None = Field(default=None, alias="clientToken")
    session_id: str | None = Field(default=None, alias="sessionId")
    community_id: str | None = Field(default=None, alias="communityId")


class PerspectiveScore(_Model):
    """A probability in 0-1."""

    value: float
    type: Literal["PROBABILITY"] = "PROBABILITY"


class PerspectiveSpanScore(_Model):
    """The score of one sentence: `text[begin:end]` in code points."""

    begin: int
    end: int
    score: PerspectiveScore


class PerspectiveAttributeScores(_Model):
    """The scores of one attribute."""

    summary_score: PerspectiveScore | None = Field(default=None, alias="summaryScore")
    span_scores: list[PerspectiveSpanScore] | None = Field(default=None, alias="spanScores")


class PerspectiveAnalyzeOut(_Model):
    """Perspective's AnalyzeComment response."""

    attribute_scores: dict[str, PerspectiveAttributeScores] = Field(alias="attributeScores")
    languages: list[str]
    detected_languages: list[str] = Field(alias="detectedLanguages")
    client_token: str | None = Field(default=None, alias="clientToken")


class PerspectiveErrorBody(_Model):
    """Google's error object, as Perspective answers it."""

    code: int
    message: str
    status: str = Field(description="INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, ...")
    details: list[dict[str, Any]] | None = Field(
        default=None, description="`errorType` such as LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE."
    )


class PerspectiveErrorOut(_Model):
    """An error in Perspective's shape, with RFC 9457's members beside it."""

    error: PerspectiveErrorBody
    type: str = "about:blank"
    title: str
    status: int
    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": PerspectiveErrorOut, "description": description}
    for code, description in (
        (400, "Invalid request, unknown or unsupported attribute or language"),
        (401, "No key or an unknown key"),
        (403, "The key lacks moderation:read"),
        (429, "The key's rate limit"),
    )
}


def _read(raw: bytes) -> PerspectiveAnalyzeIn:
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PerspectiveError(f"Invalid JSON payload received. {error}") from None
    if not isinstance(body, dict):
        raise PerspectiveError("Invalid JSON payload received. Expected an object.")
    try:
        return PerspectiveAnalyzeIn.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PerspectiveError(f"Invalid value at '{where}': {first['msg']}", field=where) from None


def _language(request: PerspectiveAnalyzeIn, detected: str) -> tuple[str, list[str]]:
    """The model to read the text with, and the languages the answer names."""
    asked = [tag.split("-")[0].split("_")[0].lower() for tag in request.languages]
    if not asked:
        if detected not in LANGUAGES:
            raise PerspectiveError("Unable to detect language.", error_type="LANGUAGE_NOT_DETECTED")
        return detected, [detected]
    supported = [tag for tag in asked if tag in LANGUAGES]
    if not supported:
        attribute = next(iter(request.requested_attributes))
        raise PerspectiveError(
            f"Attribute {attribute} does not support request languages: {', '.join(asked)}",
            error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
            languageNotSupportedByAttributeError={
                "detectedLanguages": [detected],
                "attribute": attribute,
                "requestedLanguages": request.languages,
            },
        )
    return (detected if detected in supported else supported[0]), request.languages


def _check(request: PerspectiveAnalyzeIn, detected: str) -> None:
    if request.comment.type != "PLAIN_TEXT":
        raise PerspectiveError("Currently, only 'PLAIN_TEXT' comments are supported.")
    if not request.comment.text.strip():
        raise PerspectiveError("Comment must be non-empty.", error_type="COMMENT_EMPTY")
    if len(request.comment.text.encode()) > MAX_TEXT_BYTES:
        raise PerspectiveError("Comment text too long.", error_type="COMMENT_TOO_LONG")
    if not request.requested_attributes:
        raise PerspectiveError("Missing requested_attributes.")
    for name, wanted in request.requested_attributes.items():
        if name in NOT_SCORED:
            languages = [t.lower() for t in request.languages] or [detected]
            raise PerspectiveError(
                f"Attribute {name} does not support request languages: {', '.join(languages)}",
                error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                languageNotSupportedByAttributeError={
                    "detectedLanguages": [detected],
                    "attribute": name,
                },
            )
        if name not in ATTRIBUTES:
            raise PerspectiveError(f"Unknown requested attribute: {name}")
        if wanted.score_type != "PROBABILITY":
            raise PerspectiveError(
                f"Requested score type {wanted.score_type} is not supported by attribute {name}"
            )


def sentences(text: str) -> list[tuple[int, int]]:
    """Spans `[begin, end)` of the sentences of `text`, surrounding spaces left out."""
    spans = []
    for match in _SENTENCE.finditer(text):
        begin, end = match.span()
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if end > begin:
            spans.append((begin, end))
    return spans


def analyze(request: PerspectiveAnalyzeIn, engine: Engine) -> PerspectiveAnalyzeOut:
    """The scores of the requested attributes, per comment and (if asked) per sentence."""
    text = request.comment.text
    detected = language_of(text)
    _check(request, detected)
    language, languages = _language(request, detected)
    classifier = engine.classifier
    if classifier is None:  # the default engine always has one; a guard for mypy
        raise PerspectiveError("No classifier is loaded.", code=503)
    spans = sentences(text) if request.span_annotations else []
    pieces = [text] + [text[begin:end] for begin, end in spans]
    scored = classifier.score_many(pieces, [language] * len(pieces))
    summary = _with_rules(engine, text, scored[0])
    out: dict[str, PerspectiveAttributeScores] = {}
    for name, wanted in request.requested_attributes.items():
        attribute = ATTRIBUTES[name]
        value = summary[attribute]
        threshold = wanted.score_threshold
        if threshold is not None and value < threshold:
            continue
        span_scores = None
        if request.span_annotations:
            span_scores = [
                PerspectiveSpanScore(
                    begin=begin, end=end, score=PerspectiveScore(value=scores[attribute])
                )
                for (begin, end), scores in zip(spans, scored[1:], strict=True)
            ]
        out[name] = PerspectiveAttributeScores(
            summary_score=PerspectiveScore(value=value), span_scores=span_scores
        )
    return PerspectiveAnalyzeOut(
        attribute_scores=out,
        languages=languages,
        detected_languages=[detected],
        client_token=request.client_token,
    )


def _with_rules(engine: Engine, text: str, model: Mapping[str, float]) -> dict[str, float]:
    """The model's scores, raised to 1.0 where the default keyword and scam rules match."""
    evaluation = engine.evaluate(Message(text), model_scores=model)
    return {name: max(model[name], evaluation.scores.get(name, 0.0)) for name in model}


_caller = require_scopes("moderation:read")


async def perspective_caller(
    request: Request,
    key: Annotated[
        str | None,
        Query(description="The API key, where Perspective clients send it (or a Bearer header)."),
    ] = None,
) -> Caller | PerspectiveError:
    """The caller of a `?key=` or `Authorization: Bearer` key, or the error to answer."""
    if key is not None and "authorization" not in request.headers:
        request.scope["headers"] = [
            *request.scope["headers"],
            (b"authorization", f"Bearer {key}".encode()),
        ]
        request.__dict__.pop("_headers", None)
    try:
        return await _caller(request, None)
    except Problem as problem:
        message = problem.detail or problem.title or "API key not valid."
        error = PerspectiveError(message, code=problem.status)
        error.headers = dict(problem.headers)
        return error


perspective_caller.required_scopes = _caller.required_scopes  # type: ignore[attr-defined]
perspective_caller.tenant_wide = False  # type: ignore[attr-defined]


def _inlined(schema: Any, definitions: Mapping[str, Any]) -> Any:
    """`schema` with its `#/$defs/...` references replaced by what they name (the request
    body is parsed by hand, so its models are not among the OpenAPI components)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inlined(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
        return {k: _inlined(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    return schema


_REQUEST_SCHEMA = PerspectiveAnalyzeIn.model_json_schema(by_alias=True)
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": _inlined(_REQUEST_SCHEMA, _REQUEST_SCHEMA.get("$defs", {}))
            }
        },
    }
}


@router.post(
    "/comments:analyze",
    summary="Score a comment the way Perspective API does",
    description="Perspective API's AnalyzeComment request and response, scored by Hearth's "
    "offline English/Russian classifiers: TOXICITY, INSULT, THREAT, PROFANITY, "
    "SEXUALLY_EXPLICIT and SPAM, each `attributeScores.<ATTR>.summaryScore.value` in 0-1, "
    "per sentence too with `spanAnnotations`. The key may be sent as `?key=` (as "
    "Perspective clients do) or as a Bearer header; scope `moderation:read`. Errors have "
    'Perspective\'s shape `{"error": {"code", "message", "status"}}`; Perspective\'s '
    "other attributes are refused as Perspective refuses an attribute in an unsupported "
    "language. Nothing is stored, whatever `doNotStore` says.",
    response_model=PerspectiveAnalyzeOut,
    response_model_by_alias=True,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra=_BODY,
)
async def comments_analyze(
    request: Request,
    caller: Annotated[Caller | PerspectiveError, Depends(perspective_caller)],
) -> Any:
    if isinstance(caller, PerspectiveError):
        return caller.response()
    try:
        body = _read(await request.body())
        engine = context_of(getattr(request.app.state, "moderation", None)).engines.default
        return analyze(body, engine)
    except PerspectiveError as error:
        return error.response()
