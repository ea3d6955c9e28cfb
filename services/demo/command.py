"""`hearth demo`: replay the sample community and print what Hearth made of it."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Keep the demo's platform here (an empty directory) to explore it after "
            "with `hearth dev --data-dir`; by default a temporary one, removed at the end."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay a sample community (Slack, Telegram, Discord, GitHub; English and Russian)
    through the embedded platform and print the moderation, gamification and insights."""
    from services.demo.render import render
    from services.demo.run import DemoError, run_demo
    from services.demo.run import as_json as report_json

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(stderr=as_json)
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="hearth-demo-"))
    try:
        with console.status("starting Hearth (embedded)") as status:
            report = asyncio.run(run_demo(workdir, progress=status.update))
    except DemoError as error:
        console.print(f"[red]demo failed:[/] {error}")
        raise typer.Exit(1) from error
    finally:
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        print(json.dumps(report_json(report), ensure_ascii=False, indent=2, default=str))
        return
    render(report, console)
    if data_dir is not None:
        console.print(
            f"\nThe platform is kept in {data_dir}: `hearth dev --data-dir {data_dir}` serves "
            f"it; its admin key is in {data_dir / 'dev-api-key'}."
        )
