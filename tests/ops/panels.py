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


def expand_macros(sql: str, *, since: str = "now() - interval '2 days'") -> str:
    """The SQL Grafana sends for a query using `$__timeFilter(column)` (the one macro we use)."""
    expanded = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} BETWEEN {since} AND now() + interval '1 hour'", sql
    )
    assert "$__" not in expanded, f"a Grafana macro the dashboards should not use: {sql}"
    return expanded
