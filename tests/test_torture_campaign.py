"""The torture campaign (bench/bench_torture.py), small: kill -9 during import and index, and
corruption of the database, the index files and the model, with nothing silently wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_kills_and_corruptions_are_survived_or_detected_never_silently_wrong(tmp_path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_torture.py"),
            "--kills",
            "3",
            "--corruptions",
            "10",
            "--seed",
            "2",
            "--no-write",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    assert proc.stdout.strip(), proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    counts = result["counts"]
    for bad in (
        "crashed",
        "silently wrong",
        "failed resumes",
        "integrity failures",
        "not repaired",
    ):
        assert counts.get(bad, 0) == 0, (bad, result["details"])
    assert counts.get("different from a clean build", 0) == 0, result["details"]
    assert sum(v for k, v in counts.items() if k.startswith("kill -9")) == 3
    assert sum(v for k, v in counts.items() if k.startswith("corruptions tried")) == 10
    assert counts["equal to a clean build"] == 3
    assert counts["detected"] >= 5  # most corruptions are caught, the rest changed nothing
    assert proc.returncode == 0
