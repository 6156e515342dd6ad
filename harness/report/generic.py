"""The section of a runner that has none of its own: each grid point's measurements as a table."""

from __future__ import annotations

from harness.report.part import ScenarioPart
from harness.results.records import (
    distinct_points,
    point_label,
)


def section(part: ScenarioPart) -> list[str]:
    """Per rtt and grid point: every variant's status and the metrics it recorded."""
    lines: list[str] = []
    for rtt in part.rtts:
        mine = part.at(rtt)
        for params in distinct_points(mine):
            lines += [f"### {point_label(params, rtt)}", "", "| variant | status | metrics |"]
            lines.append("|---|---|---|")
            for m in (x for x in mine if x.params == params):
                status = "ok" if m.status == "ok" else f"**{m.status.upper()}**: {m.detail}"
                metrics = ", ".join(
                    f"{name} {metric.value:,.4g} {metric.unit}".rstrip()
                    for name, metric in m.metrics.items()
                )
                lines.append(f"| {m.variant} | {status} | {metrics} |")
            lines.append("")
    return lines
