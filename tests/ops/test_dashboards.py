"""The Grafana dashboards and provisioning are well-formed and what the code generates."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.ops.panels import DASHBOARDS, GRAFANA, committed, generator, queries


def _subset(ours: Any, theirs: Any, where: str) -> list[str]:
    """Where a value we wrote did not survive a round trip through Grafana's model."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [where]
        return [
            lost
            for key, value in ours.items()
            for lost in (
                [f"{where}.{key}"]
                if key not in theirs
                else _subset(value, theirs[key], f"{where}.{key}")
            )
        ]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [where]
        return [lost for i, v in enumerate(ours) for lost in _subset(v, theirs[i], f"{where}[{i}]")]
    return [] if ours == theirs else [where]


def _encode(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return _encode(value.to_json())
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def test_the_committed_json_is_what_the_dashboards_code_writes() -> None:
    module = generator()
    files = committed()
    assert set(files) == set(module.DASHBOARDS), "run `python deploy/grafana/dashboards.py`"
    for name, board in module.DASHBOARDS.items():
        text = (DASHBOARDS / name).read_text(encoding="utf-8")
        assert text == module.render(board), f"{name} is stale: run deploy/grafana/dashboards.py"


@pytest.mark.parametrize("name", sorted(committed()))
def test_every_field_is_one_of_grafanas_dashboard_model(name: str) -> None:
    board = committed()[name]
    parsed = _encode(Dashboard.from_json(board))
    assert _subset(board, parsed, name) == []


@pytest.mark.parametrize("name", sorted(committed()))
def test_panels_are_laid_out_with_known_types_and_unique_ids(name: str) -> None:
    board = committed()[name]
    assert board["uid"].startswith("hearth-") and len(board["uid"]) <= 40
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        # a panel type Grafana ships a plugin for (the SDK has a model of each)
        module = importlib.import_module(f"grafana_foundation_sdk.models.{panel['type']}")
        assert hasattr(module, "variant_config"), panel["type"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        assert panel["targets"], f"{panel['title']} queries nothing"
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_every_panel_uses_a_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "hearth.yml").read_text(encoding="utf-8")
    )
    by_uid = {source["uid"]: source["type"] for source in provisioned["datasources"]}
    for board in committed().values():
        for panel in board["panels"]:
            for source in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
                assert by_uid.get(source["uid"]) == source["type"], (board["title"], panel["title"])


def test_grafana_loads_the_dashboards_folder_compose_mounts() -> None:
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "hearth.yml").read_text(encoding="utf-8")
    )
    compose = yaml.safe_load((GRAFANA.parents[1] / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = providers["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in mounts


def test_queries_never_group_by_a_member_or_message_label() -> None:
    for query in queries():
        if query.language == "promql":
            assert "member" not in query.text and "message_id" not in query.text, str(query)


def test_dashboards_cover_every_area_of_the_issue() -> None:
    titles = {board["title"] for board in committed().values()}
    assert titles == {
        "Hearth platform health",
        "Hearth moderation",
        "Hearth gamification",
        "Hearth community health",
        "Hearth insights",
    }
    assert Path(DASHBOARDS).is_dir()


def test_sql_panels_use_only_their_dashboards_variables_and_the_time_filter() -> None:
    for board in committed().values():
        names = {variable["name"] for variable in board["templating"]["list"]}
        for panel in board["panels"]:
            for target in panel["targets"]:
                used = set(re.findall(r"\$(\w+)", target.get("rawSql", "")))
                assert used <= names | {"__timeFilter"}, (board["title"], panel["title"], used)
