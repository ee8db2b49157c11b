"""The command line: every command documents itself, and errors are one clear line."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from kiosk.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


ALL = list(_commands(cli))


def test_the_command_groups_exist() -> None:
    names = {path for path, _ in ALL}
    assert {
        ("models",),
        ("models", "info"),
        ("models", "bench"),
        ("models", "export"),
        ("models", "quantize"),
        ("models", "verify"),
    } <= names


@pytest.mark.parametrize("path", [p for p, c in ALL], ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    command = dict(ALL)[path]
    assert command.help, f"{' '.join(path)} has no help text"
    if not isinstance(command, click.Group):
        assert "Example" in result.output, f"aislelens {' '.join(path)} --help shows no example"


def test_models_info_describes_the_default_bundle() -> None:
    result = CliRunner().invoke(cli, ["models", "info"])
    assert result.exit_code == 0
    for text in ("efficientnet-lite0", "1280-d", "Apache-2.0", "int8", "sha256 match"):
        assert text in result.output


def test_errors_are_one_line_with_status_2(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["models", "info", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert result.output.startswith("error: ") and "no manifest.json" in result.output


def test_the_kiosk_process_never_loads_the_staff_tool_or_update_signing() -> None:
    """The kiosk's memory: `aislelens kiosk` imports neither the catalog's commands nor TUF and
    its cryptography (they load only when their command runs)."""
    code = (
        "import sys\n"
        "from kiosk.cli import cli\n"
        "import kiosk.ui.app\n"
        "assert cli.get_command(None, 'kiosk') is not None\n"
        "heavy = ('tuf', 'securesystemslib', 'cryptography', 'catalog.cli', 'catalog.publish')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "cli.get_command(None, 'publish')\n"
        "print('tuf' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"], out.stdout


def test_runtime_commands_never_import_torch() -> None:
    """`aislelens models info` (and the runtime it loads) runs without touching torch or Qt."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from kiosk.cli import cli\n"
        "import models, models.embedder, models.text\n"
        "r = CliRunner().invoke(cli, ['models', 'info'])\n"
        "assert r.exit_code == 0, r.output\n"
        "from models import ImageEmbedder\n"
        "ImageEmbedder.open().embed(__import__('numpy').zeros((64, 64, 3), 'uint8'))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'open_clip', 'PySide6'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
