"""OpenAPI helpers for routes that parse their own bodies (per-item batch answers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def inline_schema(*models: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema of one model (or `oneOf` several) with every `$ref` inlined.

    A route that reads its body itself cannot point at components FastAPI never
    registered, so the request schema is embedded whole.
    """
    schemas = [_inline(model.model_json_schema()) for model in models]
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
