"""Shared output for benchmarks: a rich table on stdout, JSON on request, a section in BENCHMARKS.md."""

from __future__ import annotations

import json
import platform
import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
RELIABILITY_MD = Path(__file__).resolve().parent.parent / "RELIABILITY.md"
_HEADERS = {
    BENCHMARKS_MD: "# Benchmarks\n\nEvery section below is written by the benchmark run itself "
    "(`python -m bench.<name>`).\n",
    RELIABILITY_MD: "# Reliability\n\nEvery section below is written by the run it describes: the load, fault and "
    "fuzz scripts (see each section for its command).\n",
}


def report(
    name: str,
    title: str,
    rows: list[tuple[str, Any, str]],
    *,
    as_json: bool,
    figures: dict[str, Any],
    notes: str = "",
    target: Path = BENCHMARKS_MD,
    command: str = "",
) -> None:
    """Print rows (figure, value, target) as a table or JSON, and record them in `target` (BENCHMARKS.md)."""
    if as_json:
        print(json.dumps(figures, ensure_ascii=False, default=str))
    else:
        table = Table(title=title)
        for col in ("figure", "value", "target"):
            table.add_column(col)
        for label, value, goal in rows:
            table.add_row(label, _fmt(value), goal)
        Console().print(table)
    write_section(name, title, rows, notes, target=target, command=command)


def write_section(
    name: str,
    title: str,
    rows: list[tuple[str, Any, str]],
    notes: str = "",
    *,
    target: Path = BENCHMARKS_MD,
    command: str = "",
) -> None:
    """Replace (or append) this run's section in `target` (BENCHMARKS.md unless told otherwise)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"<!-- bench:{name} -->",
        f"## {title}",
        "",
        f"Run `{command or f'python -m bench.{name}'}` on {stamp}, {platform.python_implementation()} "
        f"{platform.python_version()}, {_cpu_count()} cores, 1-minute load average at the end "
        f"{_load():.1f}, speed reference {_reference_ms():.0f} ms.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {_fmt(value)} | {target} |" for label, value, target in rows]
    if notes:
        lines += ["", notes]
    lines.append(f"<!-- /bench:{name} -->")
    section = "\n".join(lines)
    text = target.read_text(encoding="utf-8") if target.exists() else _HEADERS.get(target, f"# {target.stem}\n")
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    target.write_text(text, encoding="utf-8")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _load() -> float:
    import os

    return os.getloadavg()[0]


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _reference_ms() -> float:
    """CPU ms of a fixed pure-Python loop (median of 5). The same code runs slower on a slower or busier machine
    (the sessions' machines differ by half as much again): figures of two runs compare only beside this."""
    times = []
    for _ in range(5):
        started = time.process_time()
        sum(i * i for i in range(1_000_000))
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)
