"""Text search through a real CLIP-style bundle's text tower (a tiny one, exported here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.cli import cli

open_clip = pytest.importorskip("open_clip", reason="the export extra is part of the test install")
pytestmark = pytest.mark.export

TINY = Path(__file__).resolve().parents[1] / "models" / "tiny_clip.json"


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_text_search_adds_the_text_towers_neighbours(shop, tmp_path) -> None:
    open_clip.add_model_config(TINY)
    bundle = tmp_path / "tiny-clip"
    code, out = run(
        "models",
        "export",
        "open_clip:tiny_clip",
        "--random-weights",
        "--no-quantize",
        "--out",
        bundle,
        "--model-config",
        TINY,
    )
    assert code == 0, out
    db = tmp_path / "store.db"
    assert run("catalog", "import", shop(4), "--db", db)[0] == 0
    code, out = run("catalog", "index", "--db", db, "--bundle", bundle, "--precision", "fp32")
    assert code == 0 and "4 embedded" in out, out
    code, out = run("catalog", "search", "--db", db, "--text", "product 2")
    assert code == 0 and out.splitlines()[0].startswith("S2 ")  # the full-text match first
    assert len(out.splitlines()) == 4  # then the text tower's nearest products
    code, out = run("catalog", "search", "--db", db, "--text", "qwertyuiop", "--k", "2")
    assert code == 0 and len(out.splitlines()) == 2  # no word matches; the tower still answers
