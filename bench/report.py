"""The table on stdout and docs/benchmarks.md: machine, versions, date, load, every figure as
median (min-max) next to its baseline, the ratio and the target."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from statistics import median

from bench.figures import Figure
from common.devserver import FAST_DISPATCH, temporal_binary


@dataclass(frozen=True)
class RunInfo:
    started: datetime
    seconds: float
    quick: bool
    load_before: str
    load_after: str


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.1f} GiB RAM"
    except (ValueError, OSError):
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}){memory}"


def temporal_cli_version() -> str:
    try:
        out = subprocess.run([temporal_binary(), "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def verdict(figure: Figure) -> str:
    if figure.met is None:
        return "-"
    return "met" if figure.met else f"MISSED ({figure.miss})"


def retries_cell(figure: Figure) -> str:
    """Activities retried on a live worker / sticky-queue misses, product; baseline."""
    parts = []
    for side in ("product", "baseline"):
        counted = figure.counts.get(side)
        parts.append("-" if counted is None else f"{figure.live_retries(side)}/{counted.sticky_misses}")
    return "; ".join(parts)


def counts_notes(figure: Figure) -> list[str]:
    notes = []
    for side in ("product", "baseline"):
        counted = figure.counts.get(side)
        if counted is None:
            continue
        killed = f" ({figure.killed} more by the SIGKILLs)" if figure.killed else ""
        notes.append(
            f"{side} {counted.runs} runs, {counted.activities} activities, {figure.live_retries(side)} "
            f"retried on a live worker{killed}, {counted.sticky_misses} sticky-queue misses, slowest "
            f"attempt {counted.slowest_attempt_s:.2f} s, slowest workflow task "
            f"{counted.slowest_workflow_task_s:.2f} s ({counted.workflow_tasks_lost} timed out)"
        )
    return ["from the histories: " + "; ".join(notes)] if notes else []


def rows(figures: list[Figure]) -> list[list[str]]:
    header = [
        "figure",
        "unit",
        "product",
        "baseline (raw SDK)",
        "ratio",
        "target",
        "live retries/sticky misses (product; baseline)",
        "result",
    ]
    body = [
        [
            figure.title,
            figure.unit,
            cell(figure.product, figure.digits),
            cell(figure.baseline, figure.digits),
            f"{figure.ratio:.2f}" if figure.ratio is not None else "-",
            figure.target_text,
            retries_cell(figure),
            verdict(figure),
        ]
        for figure in figures
    ]
    return [header, *body]


def text_table(figures: list[Figure]) -> str:
    table = rows(figures)
    widths = [min(60, max(len(row[i]) for row in table)) for i in range(len(table[0]))]
    lines = []
    for index, row in enumerate(table):
        lines.append("  ".join(value[:60].ljust(width) for value, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(figures: list[Figure]) -> str:
    table = rows(figures)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + " --- |" * len(table[0])]
    lines += ["| " + " | ".join(value.replace("|", "/") for value in row) + " |" for row in table[1:]]
    return "\n".join(lines)


def misses(figures: list[Figure], reasons: dict[str, str]) -> list[str]:
    missed = [figure for figure in figures if figure.met is False]
    if not missed:
        return ["## Targets", "", "Every target was met in this run.", ""]
    lines = ["## Targets missed in this run, by how much, and why", ""]
    for figure in missed:
        reason = reasons.get(figure.key, "not investigated.")
        lines.append(f"- **{figure.title}**: {figure.miss}. Why: {reason}")
    return [*lines, ""]


def markdown(figures: list[Figure], info: RunInfo, analysis: str, reasons: dict[str, str]) -> str:
    notes = [
        f"- {figure.key}: {note}" for figure in figures for note in [*figure.notes, *counts_notes(figure)]
    ]
    dispatch = ", ".join(f"`{key}={value}`" for key, value in FAST_DISPATCH.items())
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `python -m bench`"
            + (" --quick (a smoke run: sizes are not the targets')" if info.quick else "")
            + ". Every figure is the median (min-max) over repetitions; the baseline is the same shape "
            "written directly on the Temporal SDK (`bench/baseline.py`), run in the same process (or, "
            "where a row's method says so, a worker process of its own per side) against the same dev "
            "server, and the ratio is product / baseline (medians).",
            "",
            "## Run",
            "",
            f"- date: {info.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {info.seconds:.0f} s",
            f"- machine: {machine()}",
            f"- load average (1, 5, 15 min) before: {info.load_before}; after: {info.load_after} "
            "(the bench itself keeps about 1-2 busy)",
            f"- Python {platform.python_version()}, temporalio {version('temporalio')}, "
            f"{temporal_cli_version()} (`temporal server start-dev`, state in memory, dynamic config {dispatch})",
            "- model: in-process `BenchModel` (`bench/model.py`) behind the product's `LLMActivities`, "
            "same instance for product and baseline (a worker process of its own makes its own, alike)",
            "",
            "## Figures",
            "",
            markdown_table(figures),
            "",
            *(["Notes:", "", *notes, ""] if notes else []),
            *misses(figures, reasons),
            analysis,
            "",
        ]
    )


def now() -> datetime:
    return datetime.now(UTC)
