"""Where a run's time goes: prompt, prefilled and generated tokens and seconds per call type.

The engine stores each step's figures in the step's journal detail (`metrics_detail`), so
`runs --json` and an opened run's activity log can total them without a schema change; a live
run totals the same figures from its StepCompleted/StepFailed events (`CallUsage.add`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop.core.events import StepMetrics

CALL_TYPES = ("search", "init_plan", "write", "extend_plan")


def metrics_detail(metrics: StepMetrics) -> dict:
    """The figures a step keeps in its journal detail (under "metrics")."""
    return {
        "prompt_tokens": metrics.prompt_tokens,
        "prefilled_tokens": metrics.prefilled_tokens,
        "completion_tokens": metrics.completion_tokens,
        "seconds": round(metrics.seconds, 3),
        "first_token_seconds": round(metrics.first_token_seconds, 3),
        "drafted_tokens": metrics.drafted_tokens,
        "accepted_tokens": metrics.accepted_tokens,
        "cached": metrics.cached,
    }


@dataclass(slots=True)
class CallTotals:
    calls: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    prefilled_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    drafted_tokens: int = 0
    accepted_tokens: int = 0

    def to_json(self) -> dict:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["seconds"] = round(self.seconds, 1)
        gen = self.seconds and self.completion_tokens
        data["tokens_per_second"] = round(self.completion_tokens / self.seconds, 2) if gen else 0
        return data


@dataclass(slots=True)
class CallUsage:
    """Totals per call type (search, init_plan, write, extend_plan)."""

    by_type: dict[str, CallTotals] = field(default_factory=dict)

    def add(self, phase: str, figures: dict | StepMetrics | None, failed: bool = False) -> None:
        if figures is None:
            return
        if isinstance(figures, StepMetrics):
            figures = metrics_detail(figures)
        if figures.get("cached"):
            return  # answered from the run's cache: no model time was spent
        totals = self.by_type.setdefault(phase, CallTotals())
        totals.calls += 1
        totals.failed += int(failed)
        totals.prompt_tokens += int(figures.get("prompt_tokens", 0))
        totals.prefilled_tokens += int(figures.get("prefilled_tokens", 0))
        totals.completion_tokens += int(figures.get("completion_tokens", 0))
        totals.seconds += float(figures.get("seconds", 0.0))
        totals.drafted_tokens += int(figures.get("drafted_tokens", 0))
        totals.accepted_tokens += int(figures.get("accepted_tokens", 0))

    @staticmethod
    def from_snapshots(snapshots: list[dict]) -> CallUsage:
        """Totals from a journal's snapshots (steps committed before this feature have none)."""
        usage = CallUsage()
        for snap in snapshots:
            if snap["kind"] in ("step", "failed"):
                detail = snap["detail"]
                usage.add(
                    detail.get("phase", snap["phase"]),
                    detail.get("metrics"),
                    failed=snap["kind"] == "failed",
                )
        return usage

    def ordered(self) -> list[tuple[str, CallTotals]]:
        known = [(t, self.by_type[t]) for t in CALL_TYPES if t in self.by_type]
        return known + [(t, v) for t, v in self.by_type.items() if t not in CALL_TYPES]

    def to_json(self) -> dict:
        return {phase: totals.to_json() for phase, totals in self.ordered()}

    def lines(self) -> list[str]:
        """One human line per call type, e.g. for the activity log and the CLI."""
        out = []
        for phase, t in self.ordered():
            rate = f", {t.completion_tokens / t.seconds:.1f} tok/s" if t.seconds else ""
            drafted = (
                f", drafts {t.accepted_tokens}/{t.drafted_tokens} accepted"
                if t.drafted_tokens
                else ""
            )
            out.append(
                f"{phase}: {t.calls} call{'s' if t.calls != 1 else ''}, prompt {t.prompt_tokens} tok "
                f"({t.prefilled_tokens} prefilled), {t.completion_tokens} generated, "
                f"{format_duration(t.seconds)}{rate}{drafted}"
            )
        return out


def format_duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 1 h 07 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"
