"""The time-to-finish estimate (desktop.core.eta) and the per-call-type figures (usage).

Step figures are given, never measured, so nothing here depends on the wall clock.
"""

from __future__ import annotations

import pytest

from desktop.core.engine import Engine
from desktop.core.eta import TimeEstimator, time_left_text
from desktop.core.events import ListSink, RunFinished, StepCompleted, StepMetrics, TimeEstimated
from desktop.core.outline import Outline
from desktop.core.state import RunConfig, RunState
from desktop.core.usage import CallUsage, format_duration
from desktop.llm.scripted import ScriptedBackend
from tests.helpers import MemoryRetriever, corpus, extend, init_plan, nop, search, write


def metrics(seconds: float, *, prefilled=100, completion=50, first=None, cached=False):
    first = seconds / 4 if first is None else first
    return StepMetrics(200, prefilled, completion, seconds, first, 0.0, seconds, cached)


def outline(written: int, pending: int) -> Outline:
    titles = [(f"S{i}", "plan") for i in range(written + pending)]
    o = Outline.initial("Report", titles)
    for node in list(o.walk())[:written]:
        o = o.with_content(node.section.id, "text")
    return o


def measured(config: RunConfig, search_s=2.0, write_s=10.0, first=None) -> TimeEstimator:
    est = TimeEstimator(config)
    est.observe("search", metrics(search_s, first=first))
    est.observe("write", metrics(write_s, first=first))
    return est


def test_nothing_measured_yet_gives_no_estimate_and_done_gives_zero():
    est = TimeEstimator(RunConfig())
    assert est.estimate(None, "search", 0, 0) is None
    assert est.estimate(outline(1, 0), "done", 5, 0).seconds == 0


def test_pending_sections_cost_a_search_and_a_write_each():
    est = measured(RunConfig(max_extend=0))
    e = est.estimate(outline(1, 3), "search", 4, 0)
    assert e.seconds == pytest.approx(3 * (2 + 10))
    assert e.low < e.seconds < e.high
    e = est.estimate(outline(1, 3), "write", 5, 0)  # the cursor's search is done
    assert e.seconds == pytest.approx(3 * 10 + 2 * 2)


def test_extensions_set_the_range_from_none_to_all_of_the_budget():
    config = RunConfig(max_extend=4, max_subsections=5)  # prior: 3 subsections per extension
    est = measured(config, first=0.0)  # no prefill speed: extend-plans cost what they cost
    est.observe("extend_plan", metrics(6.0, first=0.0), next_phase="search", subsections=2)
    e = est.estimate(outline(3, 0), "extend_plan", 10, 1)
    one_extension = 6 + 2 * (2 + 10)
    assert e.low == pytest.approx(6 * 0.85)  # the next extend-plan ends the run
    assert e.high == pytest.approx(3 * one_extension * 1.15)  # three more, each like the last
    assert e.low < e.seconds < e.high


def test_the_point_estimate_expects_half_of_the_remaining_extensions():
    est = measured(RunConfig(max_extend=5), first=0.0)
    est.observe("extend_plan", metrics(6.0, first=0.0), next_phase="search", subsections=3)
    e = est.estimate(outline(3, 0), "extend_plan", 11, 2)  # 3 extensions left
    one_extension = 6.0 + 3 * (2 + 10)
    assert e.seconds == pytest.approx(1.5 * one_extension + 6.0)  # 1.5 of them, then the nop


def test_coming_extend_plans_are_priced_for_the_report_they_will_read():
    config = RunConfig(max_extend=4, max_tokens=200)
    est = TimeEstimator(config)
    # prefill 100 tok/s, generation 10 tok/s; each write adds 500 tokens to the report
    for _ in range(6):
        est.observe("write", metrics(51.0, prefilled=100, completion=500, first=1.0))
    est.observe("extend_plan", metrics(11.0, prefilled=100, completion=100, first=1.0))
    e = est.estimate(outline(6, 0), "extend_plan", 12, 3)  # one extension left, no sections
    report = 6 * 500
    nop_low = 0.5 * report / 100 + 100 / 10  # half the report again, half the answer budget
    assert e.low == pytest.approx(nop_low * 0.85)
    grown = 0.5 * (report + 3 * 500) / 100 + 100 / 10  # after one more extension's writes
    assert e.seconds > e.low / 0.85 + grown * 0.5  # half an extension, then the nop


def test_the_point_estimate_stays_inside_its_range():
    """One extension left, and extend-plans far dearer than the sections they add: half an
    extension plus the nop would cost more than the extension alone (the range's top)."""
    est = TimeEstimator(RunConfig(max_extend=2))
    est.observe("search", metrics(1.0))
    est.observe("write", metrics(1.0))
    est.observe("extend_plan", metrics(100.0), next_phase="search", subsections=2)
    e = est.estimate(outline(3, 0), "extend_plan", 10, 1)
    assert e.low <= e.seconds <= e.high


def test_the_step_budget_caps_the_estimate():
    est = measured(RunConfig(max_step=20, max_extend=0))
    e = est.estimate(outline(0, 10), "search", 18, 0)  # 20 calls left, 2 steps of budget
    assert e.calls_left == 2
    assert e.seconds == pytest.approx((10 * 2 + 10 * 10) * 2 / 20)


def test_failures_are_retried():
    est = measured(RunConfig(max_extend=0))
    base = est.estimate(outline(0, 2), "search", 3, 0).seconds
    est.observe("write", metrics(10.0), failed=True)
    est.observe("write", metrics(10.0))
    assert est.estimate(outline(0, 2), "search", 5, 0).seconds > base


def test_a_call_type_not_seen_yet_is_priced_from_the_measured_speeds():
    config = RunConfig(max_extend=0, max_tokens=400, max_sections=5)
    est = TimeEstimator(config)
    # 100 tokens prefilled in 1 s, 50 generated in 5 s: 100 tok/s prefill, 10 tok/s generation
    est.observe("search", metrics(6.0, prefilled=100, completion=50, first=1.0))
    e = est.estimate(None, "init_plan", 1, 0)
    plan = 100 / 100 + 200 / 10  # the mean prefill and half the plan's answer budget
    write = 100 / 100 + config.max_tokens / 2 / 10
    expected_sections = (1 + 5) / 2
    assert e.seconds == pytest.approx(plan + expected_sections * (6.0 + write))
    assert e.low == pytest.approx((plan + 1 * (6.0 + write)) * 0.85)


def test_cached_steps_do_not_set_prices():
    est = measured(RunConfig(max_extend=0))
    est.observe("write", metrics(0.0, cached=True))
    assert est.estimate(outline(0, 1), "search", 3, 0).seconds == pytest.approx(12)


def test_durations_read_well():
    assert format_duration(12.4) == "12 s"
    assert format_duration(245) == "4 min 05 s"
    assert format_duration(3 * 3600 + 7 * 60) == "3 h 07 min"
    assert time_left_text(600, 300, 1200) == "~10 min 00 s left (5 min 00 s – 20 min 00 s)"


# ---- in the engine --------------------------------------------------------------------------
def run_scripted():
    replies = [
        search("solar", "wind"),
        init_plan("Energy", "Solar", "Wind"),
        search("solar"),
        write(),
        search("wind"),
        write(),
        extend("section-1", "Costs"),
        search("solar cost"),
        write(),
        nop(),
    ]
    sink = ListSink()
    engine = Engine(
        run_id="eta",
        state=RunState(question="How do solar and wind energy compare?", language="en"),
        config=RunConfig(max_step=40, max_extend=2),
        backend=ScriptedBackend(replies),
        retriever=MemoryRetriever(corpus()),
        sink=sink,
    )
    engine.run()
    return engine, sink


def test_the_engine_estimates_after_every_step_and_reports_how_long_the_run_took():
    engine, sink = run_scripted()
    steps = sink.of(StepCompleted)
    estimates = sink.of(TimeEstimated)
    assert [e.step for e in estimates] == [s.step for s in steps][:-1]  # none once done
    assert all(e.low <= e.seconds <= e.high for e in estimates)
    assert all(a.elapsed <= b.elapsed for a, b in zip(estimates, estimates[1:], strict=False))
    finished = sink.of(RunFinished)[0]
    assert finished.seconds >= estimates[-1].elapsed


def test_call_usage_totals_the_steps_per_call_type():
    engine, sink = run_scripted()
    usage = CallUsage()
    for event in sink.of(StepCompleted):
        usage.add(event.phase, event.metrics)
    data = usage.to_json()
    assert list(data) == ["search", "init_plan", "write", "extend_plan"]
    assert data["search"]["calls"] == 4 and data["write"]["calls"] == 3
    assert data["extend_plan"]["calls"] == 2
    steps = [e for e in sink.of(StepCompleted) if e.phase == "write"]
    assert data["write"]["completion_tokens"] == sum(e.metrics.completion_tokens for e in steps)
    assert len(usage.lines()) == 4


def test_the_journal_keeps_each_steps_figures_for_runs_json(tmp_path):
    from desktop.cli import _call_usage
    from desktop.store.journal import RunJournal

    state = RunState(question="How do solar and wind energy compare?", language="en")
    config = RunConfig(max_step=40, max_extend=2)
    journal = RunJournal.create(tmp_path, state, config, sources=[], model="scripted")
    sink = ListSink()
    replies = [search("solar"), init_plan("Energy", "Solar"), search("solar"), write(), nop()]
    engine = Engine(
        run_id=journal.run_id,
        state=state,
        config=config,
        backend=ScriptedBackend(replies),
        retriever=MemoryRetriever(corpus()),
        sink=sink,
        journal=journal,
    )
    engine.run()
    live = CallUsage()
    for event in sink.of(StepCompleted):
        live.add(event.phase, event.metrics)
    stored = CallUsage.from_snapshots(journal.snapshots())
    journal.close()
    assert stored.to_json() == live.to_json()
    assert _call_usage(journal.path) == live.to_json()
    assert live.to_json()["write"]["completion_tokens"] > 0


def test_the_cli_progress_line_ends_in_the_time_left_and_the_finish_says_how_long():
    import io

    from desktop.cli import ProgressPrinter

    engine, sink = run_scripted()
    out = io.StringIO()
    printer = ProgressPrinter(out, max_step=40)
    for event in sink.events:
        printer.emit(event)
    lines = out.getvalue().splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert all(" left (" in line for line in steps[:-1])  # the last step ends the run
    assert any(line.startswith("finished after 10 steps (nop) in ") for line in lines)
    assert any(line.strip().startswith("write: 3 calls, prompt ") for line in lines)
