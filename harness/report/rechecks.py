"""The report's line on how many timed answers were compared with the reference's, for every
runner: operations (latency), requests under load (throughput, http)."""

from __future__ import annotations

from harness.results.records import Measurement


def rechecked_line(ms: list[Measurement], timed: str = "timed operations") -> str:
    """How many of `timed`'s answers were compared with the reference's, per variant and point."""
    measured = [m for m in ms if m.status == "ok" and m.kind == "variant"]
    counts = [
        int(m.metrics["answers_rechecked"].value)
        for m in measured
        if "answers_rechecked" in m.metrics
    ]
    if not counts:
        return (
            "Answers were checked once per variant and point, before timing; no answer given "
            "while timed was re-checked (this scenario reads its answers back from the "
            "database, or the run predates re-checking)."
        )
    return (
        f"Answers re-checked while timed: {sum(counts):,} answers of {timed} were compared "
        f"with the reference's ({min(counts)}-{max(counts)} per variant and point, spread over "
        "the measured window), beside the check of every variant before timing."
    )
