"""What a durable journal commit costs: SQLite synchronous=FULL against NORMAL, in WAL mode.

    python bench/bench_journal_sync.py [--commits 200] [--dir FOLDER]

With WAL and synchronous=NORMAL a commit returns before the WAL is on disk: a power cut can
roll back the last committed steps. FULL syncs the WAL on every commit, so a committed step
survives a power cut. This runs the kill harness's scripted research once for a realistic
state (a finished report, its evidence registry), then commits that state `--commits` times
into a fresh journal in each mode (in `--dir`, default a temp folder on the system's temp
disk: use the disk the data folder lives on), and prints the median and 95th-percentile commit
time of each and their ratio, next to a research step's own time on the scripted backend
(a real model's step takes seconds). The machine is shared: the load average is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from desktop.store.journal import RunJournal, list_runs  # noqa: E402
from tests.crash.harness import reference  # noqa: E402


def commit_times(folder: Path, state, config, commits: int, mode: str) -> list[float]:
    """Seconds per commit of `state` (as successive steps) into a new journal in `mode`."""
    journal = RunJournal.create(folder, state, config, sources=[], model="bench")
    journal.db.execute(f"PRAGMA synchronous={mode}")
    times = []
    try:
        for step in range(1, commits + 1):
            started = time.perf_counter()
            journal.commit(state.evolve(step=step), "step", {})
            times.append(time.perf_counter() - started)
    finally:
        journal.close()
    return times


def describe(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(times) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="draftwell-sync-", dir=args.dir) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        ref = reference(work / "reference")
        seconds = time.perf_counter() - started
        run = list_runs(work / "reference" / "data")[0]
        journal = RunJournal.open(work / "reference" / "data", run.id)
        state, config = journal.latest_state(), journal.config
        journal.close()
        size = len(json.dumps(state.to_dict(), ensure_ascii=False))
        print(f"state: {size} characters of JSON, {len(state.registry.by_key)} evidence passages")
        print(f"scripted research: {run.steps} steps in {seconds:.1f}s (start-up included)")
        results = {}
        for mode in ("NORMAL", "FULL"):
            results[mode] = commit_times(work / mode.lower(), state, config, args.commits, mode)
            print(f"synchronous={mode}: {describe(results[mode])} over {args.commits} commits")
        ratio = statistics.median(results["FULL"]) / statistics.median(results["NORMAL"])
        print(f"FULL/NORMAL median ratio: {ratio:.1f}x ({len(ref.sections)} sections)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
