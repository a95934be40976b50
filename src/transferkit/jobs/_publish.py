"""The last steps of a finished run: its report page and experiment tracking. Neither may
cost the trained model: a failure is said in the summary, the run folder stands."""

from __future__ import annotations

from typing import Any


def with_report(result: Any) -> None:
    """Write report.html last, from the files the run wrote."""
    from transferkit.runs._report import write_report

    try:
        path = write_report(result.run_dir, from_inputs=True)
    except Exception as exc:  # a broken plot must not cost the trained model
        result.summary += (
            f"\nreport.html could not be written ({type(exc).__name__}: {exc});"
            f" try `transferkit report {result.run_dir}`"
        )
        return
    result.summary += f"\nreport: {path}"


def with_tracking(result: Any, track: str, uri: str | None) -> None:
    """Log the finished run to the tracker; an unreachable tracker is said."""
    from transferkit.runs._tracking import track_run

    try:
        where = track_run(result.run_dir, track, uri)
    except Exception as exc:  # a tracker's error must not cost the trained model
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        result.summary += (
            f"\n{track} logging failed ({type(exc).__name__}: {first}); the run folder is"
            f" complete: retry with `transferkit track {result.run_dir} --track {track}`"
        )
        return
    result.summary += f"\ntracked: {where}"
