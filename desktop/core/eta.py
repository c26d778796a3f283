"""Time to finish: the remaining time of a run, from its own measured speeds and the work left.

The work left is counted in model calls. Sections without text each need a search and a write
(the current one only its write when its search is done); before the outline exists, the
sections a plan will have are not known yet (the plan's bounds give the range). After the last
section, the policy may extend the outline up to `max_extend` times, each an extend-plan call
adding a few subsections (each again a search and a write), and ends with a nop. How many
extensions come is the big unknown, and the run so far says little about it (every extend-plan
before the last one extended): the range runs from "the next extend-plan ends the run" to
"every remaining extension is used", and the point estimate takes the middle, half of the
remaining extensions (the stop equally likely anywhere in what is left). Failed steps are retried,
so the calls are scaled by the run's failure rate, and never exceed the step budget.

Each call type's seconds are the mean of its recent steps in this run (which include the
retrieval of a search). An extend-plan reads the whole report, so the coming ones are priced
for the report as it will have grown (half of it evaluated again, on average) when that is
more than their mean so far. A call type not seen yet is priced from the run's prefill and
generation speeds: its expected prompt tokens to prefill at the measured prefill rate plus half
its answer budget at the measured generation rate. The range widens each bound by 15 % for the
spread between calls. Qt-free and clock-free: the caller says when.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from desktop.core.events import StepMetrics
from desktop.core.outline import Outline
from desktop.core.state import RunConfig
from desktop.core.usage import format_duration

RECENT = 8  # steps per call type that set its price
SPREAD = 0.15  # the range's extra margin for the spread between calls of one type
MAX_FAILURE_RATE = 0.5


def time_left_text(seconds: float, low: float, high: float) -> str:
    """'~12 min 30 s left (8 min 10 s – 25 min 00 s)' for the status bar."""
    if high <= 0:
        return "finishing"
    span = f"{format_duration(low)} – {format_duration(high)}"
    return f"~{format_duration(seconds)} left ({span})"


@dataclass(frozen=True, slots=True)
class Estimate:
    """Seconds left: a point estimate and the range it is honest about."""

    seconds: float
    low: float
    high: float
    calls_left: float  # expected model calls still to come

    def describe(self) -> str:
        return time_left_text(self.seconds, self.low, self.high)


@dataclass(frozen=True, slots=True)
class _Work:
    """Calls left per call type."""

    search: float = 0.0
    write: float = 0.0
    init_plan: float = 0.0
    extend_plan: float = 0.0

    def plus(self, other: _Work, times: float = 1.0) -> _Work:
        return _Work(
            self.search + other.search * times,
            self.write + other.write * times,
            self.init_plan + other.init_plan * times,
            self.extend_plan + other.extend_plan * times,
        )

    @property
    def calls(self) -> float:
        return self.search + self.write + self.init_plan + self.extend_plan


@dataclass(slots=True)
class _Sample:
    seconds: float
    prefilled: int
    completion: int
    first_token_seconds: float


@dataclass
class TimeEstimator:
    """Fed each step's figures (`observe`); `estimate` prices the work left."""

    config: RunConfig
    recent: dict[str, deque] = field(default_factory=dict)
    calls: int = 0
    failures: int = 0
    extended: int = 0  # extend-plan calls that extended the outline
    ended: int = 0  # extend-plan calls that ended the run (nop)
    subsections: list[int] = field(default_factory=list)
    prefill_tokens: int = 0
    prefill_seconds: float = 0.0
    gen_tokens: int = 0
    gen_seconds: float = 0.0
    report_tokens: int = 0  # tokens written into sections so far

    def observe(
        self,
        phase: str,
        metrics: StepMetrics | None,
        *,
        failed: bool = False,
        next_phase: str | None = None,
        subsections: int | None = None,
    ) -> None:
        """One finished step: its call type, figures, and for an extend-plan what it did."""
        self.calls += 1
        self.failures += int(failed)
        if phase == "write" and not failed and metrics is not None:
            self.report_tokens += metrics.completion_tokens
        if phase == "extend_plan" and not failed:
            if next_phase == "done":
                self.ended += 1
            else:
                self.extended += 1
                if subsections:
                    self.subsections.append(subsections)
        if metrics is None or metrics.cached:
            return
        sample = _Sample(
            metrics.seconds,
            metrics.prefilled_tokens,
            metrics.completion_tokens,
            metrics.first_token_seconds,
        )
        self.recent.setdefault(phase, deque(maxlen=RECENT)).append(sample)
        if metrics.prefilled_tokens and metrics.first_token_seconds > 0:
            self.prefill_tokens += metrics.prefilled_tokens
            self.prefill_seconds += metrics.first_token_seconds
        generating = metrics.seconds - metrics.first_token_seconds
        if metrics.completion_tokens and generating > 0:
            self.gen_tokens += metrics.completion_tokens
            self.gen_seconds += generating

    # ---- the estimate ---------------------------------------------------------------------
    def estimate(
        self, outline: Outline | None, phase: str, step: int, extend_count: int
    ) -> Estimate | None:
        """Seconds left from this state, or None before anything was measured."""
        if phase == "done":
            return Estimate(0.0, 0.0, 0.0, 0.0)
        if not self.recent:
            return None
        base_low, base_mid, base_high = self._sections_left(outline, phase)
        ext = self._extensions(extend_count, phase)
        mid = base_mid.plus(ext[1])
        low = base_low.plus(ext[0])
        high = base_high.plus(ext[2])
        budget = max(0, self.config.max_step - step)
        retry = 1.0 / (1.0 - min(MAX_FAILURE_RATE, self.failures / max(1, self.calls)))
        pending = base_mid.write
        seconds = [
            self._priced(w, budget, retry) + self._growth(w.extend_plan, pending) * retry
            for w in (low, mid, high)
        ]
        calls = min(mid.calls * retry, budget)
        low_s, high_s = seconds[0], seconds[2]
        # The point lies in the range: "half the extensions, then a nop" costs more than "all
        # of them" when an extend-plan is dearer than the sections it adds, and the step budget
        # cuts the longer work more.
        point = min(max(seconds[1], low_s), high_s)
        return Estimate(point, low_s * (1 - SPREAD), high_s * (1 + SPREAD), calls)

    def _sections_left(self, outline: Outline | None, phase: str) -> tuple[_Work, _Work, _Work]:
        """Calls for the sections still without text: (fewest, expected, most)."""
        if outline is None:
            first = _Work(search=1.0 if phase == "search" else 0.0, init_plan=1.0)
            lo, hi = 1, self.config.max_sections
            expected = (lo + hi) / 2
            return tuple(first.plus(_Work(search=n, write=n)) for n in (lo, expected, hi))  # type: ignore[return-value]
        pending = sum(1 for n in outline.walk() if not n.locked and n.section.content is None)
        work = _Work(search=pending, write=pending)
        if phase == "write" and pending:
            work = _Work(search=pending - 1, write=pending)
        return work, work, work

    def _extensions(self, extend_count: int, phase: str) -> tuple[_Work, _Work, _Work]:
        """Calls of the extensions still to come: (none, expected, all)."""
        left = max(0, self.config.max_extend - extend_count)
        if left == 0:
            return _Work(), _Work(), _Work()
        per = self._subsections_per_extension()
        one = _Work(extend_plan=1.0, search=per, write=per)
        expected = left / 2
        nop = _Work(extend_plan=1.0)  # the extend-plan that ends the run, unless the budget does
        return nop, _Work().plus(one, expected).plus(nop), _Work().plus(one, left)

    def _growth(self, extend_plans: float, pending: float) -> float:
        """Seconds the coming extend-plans cost beyond their measured mean: each reads the
        whole report, which grows by every section written before it, and what follows the
        section that changed since the last one (half the report, on average) is evaluated
        again."""
        if extend_plans <= 0 or not self.prefill_seconds:
            return 0.0
        writes = self.recent.get("write")
        write_tokens = (
            sum(s.completion for s in writes) / len(writes)
            if writes
            else self.config.max_tokens / 2
        )
        mean = self._seconds_per_call("extend_plan")
        answer = self._answer_budget("extend_plan") / 2 / self._gen_rate()
        report = self.report_tokens + pending * write_tokens
        per = self._subsections_per_extension()
        extra, i = 0.0, 0
        while i < extend_plans:
            cost = 0.5 * report / self._prefill_rate() + answer
            extra += min(1.0, extend_plans - i) * max(0.0, cost - mean)
            report += per * write_tokens
            i += 1
        return extra

    def _subsections_per_extension(self) -> float:
        if self.subsections:
            return sum(self.subsections) / len(self.subsections)
        return (1 + self.config.max_subsections) / 2

    def _price(self, work: _Work) -> float:
        return sum(getattr(work, phase) * self._seconds_per_call(phase) for phase in _PHASES)

    def _priced(self, work: _Work, budget: int, retry: float) -> float:
        """Seconds for `work` with retries, of which at most `budget` calls happen (the step
        budget ends the run)."""
        calls = work.calls * retry
        scale = min(1.0, budget / calls) if calls else 1.0
        return self._price(work) * retry * scale

    def _seconds_per_call(self, phase: str) -> float:
        samples = self.recent.get(phase)
        if samples:
            return sum(s.seconds for s in samples) / len(samples)
        everything = [s for q in self.recent.values() for s in q]
        prefill = sum(s.prefilled for s in everything) / len(everything)
        answer = self._answer_budget(phase) / 2
        return prefill / self._prefill_rate() + answer / self._gen_rate()

    def _answer_budget(self, phase: str) -> int:
        c = self.config
        return c.max_tokens_search if phase == "search" else c.max_tokens

    def _prefill_rate(self) -> float:
        return self.prefill_tokens / self.prefill_seconds if self.prefill_seconds else 50.0

    def _gen_rate(self) -> float:
        return self.gen_tokens / self.gen_seconds if self.gen_seconds else 5.0


_PHASES = ("search", "write", "init_plan", "extend_plan")
