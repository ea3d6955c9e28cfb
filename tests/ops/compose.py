"""docker-compose.yml read as Compose reads it, and commands checked against the real CLI."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import typer
import yaml

from services.cli import app
from tests.ops.panels import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"

_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


class MissingVariable(Exception):
    """A `${NAME:?message}` variable was not set; Compose refuses to start with the message."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: `$$`, `${X}`, `${X:-default}`, `${X:?error}`."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        value = env.get(name)
        unset = value is None or (value == "" and operator is not None and operator[0] == ":")
        if operator is not None and operator.endswith("-"):
            return argument if unset else str(value)
        if operator is not None and operator.endswith("?"):
            if unset:
                raise MissingVariable(f"{name}: {argument}")
            return str(value)
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _interpolate_values(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {key: _interpolate_values(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate_values(item, env) for item in value]
    return value


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    """The compose model as Compose builds it: YAML (with merge keys), then every string
    value interpolated."""
    loaded: dict[str, Any] = _interpolate_values(
        yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")), env
    )
    return loaded


def parse_cli(args: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """(command name, parameters) as `hearth <args>` would parse them; UsageError if it can't."""
    command: Any = typer.main.get_command(app)
    context = command.make_context("hearth", list(args))
    while hasattr(command, "resolve_command"):
        name, command, rest = command.resolve_command(
            context, [*context._protected_args, *context.args]
        )
        context = command.make_context(name, rest, parent=context)
    return command.name, dict(context.params)
