"""A scripted research over real PDFs survives SIGKILL anywhere and ends as if never killed.

Twelve kills at seeded checkpoints (ingestion, inside a journal commit, a prompt's prefill, a
streaming reply, an export) plus two after seeded random delays, each followed by a resume;
the final report must equal an uninterrupted run's, byte for byte, with no committed section
lost, no document indexed twice and a library that verifies clean. bench/bench_kill_anywhere.py
runs the same with 50 kills.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash.harness import KillPlanner, Reference, _duplicates, reference, run_with_kills

SEED = 20


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return reference(tmp_path_factory.mktemp("reference"))


def test_a_research_killed_anywhere_ends_exactly_like_an_uninterrupted_one(
    uninterrupted: Reference, tmp_path: Path
) -> None:
    planner = KillPlanner(14, timed=2, rng=random.Random(SEED))
    outcome = run_with_kills(tmp_path, planner, uninterrupted)
    assert outcome.kills >= 10, outcome
    assert {"ingest.", "journal.commit.", "llm.stream", "export."} <= set(outcome.sites), outcome
    assert outcome.report_identical, outcome
    assert outcome.sections_lost == 0, outcome
    assert outcome.duplicates == 0, outcome
    assert outcome.verify_problems == [], outcome


def test_an_extra_vector_or_chunk_counts_as_a_duplicate(uninterrupted: Reference) -> None:
    expected = uninterrupted.library
    assert _duplicates(dict(expected), expected) == 0
    assert _duplicates({**expected, "vectors": expected["vectors"] + 1}, expected) == 1
    more = [*expected["chunks"][:-1], expected["chunks"][-1] + 2]
    assert _duplicates({**expected, "chunks": more}, expected) == 2
