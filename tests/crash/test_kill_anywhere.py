"""A scripted research over real PDFs survives SIGKILL anywhere and ends as if never killed.

Twelve kills at seeded checkpoints (ingestion, inside a journal commit, a prompt's prefill, a
streaming `write` reply, an export) plus two after seeded random delays, each followed by a
resume; the final report must equal an uninterrupted run's, byte for byte, with no committed
section lost, no step done twice, no earlier snapshot changed, no document indexed twice, no
stray export temp file and a library that verifies clean. bench/bench_kill_anywhere.py runs the
same with 50 kills.

The kill points come from a fixed seed, so a failure replays; DRAFTWELL_KILL_SEED=N picks
another (a CI job may rotate it: every assertion message names the seed).

The harness's own checks are shown able to fail: a resume that rewinds or drops history (fault
injections in the child) must be reported.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.crash.harness import KillPlanner, Reference, _duplicates, reference, run_with_kills
from tests.crash.scripted_research import DROP_SNAPSHOTS_ENV, RESUME_BEHIND_ENV

SEED = int(os.environ.get("DRAFTWELL_KILL_SEED") or 20)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return reference(tmp_path_factory.mktemp("reference"))


def test_a_research_killed_anywhere_ends_exactly_like_an_uninterrupted_one(
    uninterrupted: Reference, tmp_path: Path
) -> None:
    planner = KillPlanner(14, timed=2, rng=random.Random(SEED), ref=uninterrupted)
    outcome = run_with_kills(tmp_path, planner, uninterrupted)
    seen = f"seed {SEED}: {outcome}"
    assert outcome.kills >= 10, seen
    wanted = {"ingest.", "journal.commit.", "llm.prefill", "llm.stream.write", "export."}
    assert wanted <= set(outcome.sites), seen
    assert outcome.late_kills >= 4, seen  # kills among written sections, not only before
    assert outcome.report_identical, seen
    assert outcome.sections_lost == 0, seen
    assert outcome.steps_rewound == 0, seen
    assert outcome.history_changed == 0, seen
    assert outcome.misreported == [], seen
    assert outcome.duplicates == 0, seen
    assert outcome.verify_problems == [], seen
    assert outcome.stray_temp_files == 0, seen
    assert outcome.clean, seen


@pytest.mark.parametrize(
    ("fault", "counter"),
    [(RESUME_BEHIND_ENV, "steps_rewound"), (DROP_SNAPSHOTS_ENV, "history_changed")],
)
def test_a_resume_that_loses_history_is_reported(
    uninterrupted: Reference, tmp_path: Path, fault: str, counter: str
) -> None:
    planner = KillPlanner(4, timed=0, rng=random.Random(SEED), ref=uninterrupted)
    planner.ingest_budget = 0  # all four kills inside the research
    planner.early_budget = 0
    outcome = run_with_kills(tmp_path, planner, uninterrupted, env={fault: "2"})
    assert getattr(outcome, counter) > 0, outcome
    assert not outcome.clean, outcome


def test_an_extra_vector_or_chunk_counts_as_a_duplicate(uninterrupted: Reference) -> None:
    expected = uninterrupted.library
    assert _duplicates(dict(expected), expected) == 0
    assert _duplicates({**expected, "vectors": expected["vectors"] + 1}, expected) == 1
    more = [*expected["chunks"][:-1], expected["chunks"][-1] + 2]
    assert _duplicates({**expected, "chunks": more}, expected) == 2
