"""The dashboards under deploy/grafana, read as Grafana would, and their queries."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"


@dataclass(frozen=True)
class Query:
    """One target of one panel."""

    dashboard: str
    panel: str
    language: str  # promql | sql
    text: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.text}"


def generator() -> ModuleType:
    """deploy/grafana/dashboards.py, the dashboards as code."""
    spec = importlib.util.spec_from_file_location("hearth_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON Grafana provisions, by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def queries() -> list[Query]:
    """Every PromQL expression and SQL query of every panel."""
    found = []
    for board in committed().values():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    found.append(Query(board["title"], panel["title"], "promql", target["expr"]))
                else:
                    found.append(Query(board["title"], panel["title"], "sql", target["rawSql"]))
    return found


_TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")


def variables() -> list[dict[str, Any]]:
    """Every template variable of every dashboard."""
    return [v for board in committed().values() for v in board["templating"]["list"]]


def expand_macros(
    sql: str,
    *,
    since: str = "now() - interval '2 days'",
    values: dict[str, list[str]] | None = None,
) -> str:
    """The SQL Grafana sends: `$__timeFilter(column)` and each `$variable` as the quoted
    list of the values picked (a multi-value variable's "All" is every value)."""
    expanded = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} BETWEEN {since} AND now() + interval '1 hour'", sql
    )
    for name, picked in (values or {}).items():
        quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in picked)
        expanded = expanded.replace(f"${name}", quoted)
    assert "$" not in expanded, f"a macro or variable left unexpanded: {expanded}"
    return expanded
