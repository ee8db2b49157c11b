"""Write one benchmark's figures into its own marked section of BENCHMARKS.md.

Each script owns a section between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``;
re-running it replaces that section and leaves the others alone.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nFigures written by the scripts in `bench/`; each section says how to "
    "reproduce it. The development machine is shared and noisy: compare ratios measured in the "
    "same run, not absolute times across sections.\n"
)


def machine() -> str:
    """One line naming the machine the figures come from."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} · {cpus} usable CPU(s) · {model or platform.processor()} · Python {platform.python_version()}"


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--runs 0`` is refused in one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def write_section(name: str, title: str, body: str, command: str) -> Path:
    """Replace (or append) the section ``name`` of BENCHMARKS.md."""
    today = _dt.date.today().isoformat()
    block = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Measured {today} on {machine()}.\nReproduce: `{command}`\n\n{body.strip()}\n"
        f"<!-- /bench:{name} -->"
    )
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S
    )
    text = (
        pattern.sub(lambda _m: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    BENCHMARKS.write_text(text)
    return BENCHMARKS
