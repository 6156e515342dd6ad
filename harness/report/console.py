"""What the user sees while a run goes: a progress bar with an ETA, notes, the summary table,\nand what to pick at the end."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness.report.units import duration, rtt_text
from harness.results.records import RunRecord
from harness.scenario.grid import AxisValue


class RunProgress:
    """A progress bar measured in planned seconds, so its ETA is a time estimate."""

    def __init__(self, console: Console, total_units: float) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID = self.progress.add_task("starting", total=max(total_units, 1e-9))

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def step(self, label: str, units: float) -> None:
        if label:
            self.progress.update(self.task, description=label[:70])
        if units:
            self.progress.advance(self.task, units)

    def note(self, message: str) -> None:
        self.progress.console.print(f"[dim]·[/dim] {message}", highlight=False)


def what_to_pick(folder: Path) -> Markdown | None:
    """report.md's What to pick section, for the terminal (None when the report has none)."""
    text = (folder / "report.md").read_text() if (folder / "report.md").is_file() else ""
    start = text.find("\n## What to pick\n")
    if start < 0:
        return None
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    return Markdown(re.sub(r"\]\(#[^)]*\)", "]", section).replace("**[", "**").replace("]**", "**"))


def summary_tables(run: RunRecord) -> list[Table]:
    """Per scenario and rtt: grid points down, variants across, median latency (requests/s
    for throughput scenarios); the best in bold."""
    tables = []
    for record, rtt in ((r, rtt) for r in run.scenarios for rtt in r.rtts_ms or [0.0]):
        ms = [m for m in run.measurements if m.scenario == record.name and m.rtt_ms == rtt]
        variants = [*record.natives, *record.variants]
        at = f", rtt {rtt_text(rtt)}" if (record.rtts_ms or [0.0]) != [0.0] else ""
        by_rate = record.runner in ("throughput", "http")
        shown = "requests/s" if by_rate else "median per op"
        table = Table(title=f"{record.name}: {record.question} ({shown}{at})", title_justify="left")
        table.add_column(" / ".join(name for name, _ in record.axes), no_wrap=True)
        for name in variants:
            table.add_column(name, justify="right")
        points: list[dict[str, AxisValue]] = []
        for m in ms:
            if m.params not in points:
                points.append(m.params)
        for params in points:
            cells = []
            for name in variants:
                found = next((x for x in ms if x.params == params and x.variant == name), None)
                if found is None:
                    cells.append("")
                elif found.status == "wrong":
                    cells.append("[red]WRONG[/red]")
                elif found.status != "ok" or "median_us" not in found.metrics:
                    cells.append(f"[red]{found.status.upper()}[/red]")
                else:
                    text = (
                        f"{found.metrics['ops_per_s'].value:,.0f}/s"
                        if by_rate and "ops_per_s" in found.metrics
                        else duration(found.metrics["median_us"].value)
                    )
                    cells.append(f"[bold green]{text}[/bold green]" if found.is_best else text)
            table.add_row(" / ".join(str(v) for v in params.values()), *cells)
        tables.append(table)
    return tables


def time_table(run: RunRecord, start_s: float, report_s: float, total_s: float) -> Table:
    """Where the run's time went: starting the server, each scenario (its data load apart from
    its measuring, and per measured variant-point), writing the report."""
    table = Table(title="Where the time went", title_justify="left")
    for column in ("step", "seconds", "data", "measuring", "variant-points", "per variant-point"):
        table.add_column(column, justify="left" if column == "step" else "right")
    table.add_row("server start", f"{start_s:.1f}", "", "", "", "")
    for record in run.scenarios:
        data_s = float(record.dataset.get("load_seconds", 0.0) or 0.0)
        measuring = max(0.0, record.seconds - data_s)
        points = sum(
            1 for m in run.measurements if m.scenario == record.name and m.status != "skipped"
        )
        table.add_row(
            record.name,
            f"{record.seconds:.1f}",
            f"{data_s:.1f}",
            f"{measuring:.1f}",
            str(points),
            f"{measuring / points:.2f}" if points else "",
        )
    table.add_row("report", f"{report_s:.1f}", "", "", "", "")
    table.add_row("[bold]total[/bold]", f"[bold]{total_s:.1f}[/bold]", "", "", "", "")
    return table
