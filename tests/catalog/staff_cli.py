"""Running ``aislelens catalog …`` in-process as staff would (imported by name:
``from staff_cli import run``)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import cli


def run(*args: str | Path) -> tuple[int, str]:
    """(exit status, stdout and stderr) of ``aislelens catalog ARGS…``."""
    result = CliRunner().invoke(cli, ["catalog", *map(str, args)])
    return result.exit_code, result.output
