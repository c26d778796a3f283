"""Kill-anywhere benchmark: a scripted research SIGKILLed N times, resumed until it finishes.

    python bench/bench_kill_anywhere.py [--kills 50] [--timed 15] [--seed 1] [--series 1]
                                        [--max-extend 5]

Each series runs tests.crash.scripted_research over generated PDFs in a fresh data folder (a
research of 3 + 2 x `--max-extend` sections, long enough for the kills to spread over it):
`--kills` launches each die by SIGKILL, at a checkpoint picked from where the work stands
(ingestion, inside a journal commit, a prompt's prefill, a streaming reply, an export) or,
for `--timed` of them, from outside after a random delay; then it is launched until done.
Prints kills survived, sections lost, steps a resume did again, earlier snapshots changed,
runs listed as anything but interrupted after a kill (with a live unrelated pid stored),
duplicates, stray export temp files, verify problems, whether the report equals the
uninterrupted run's byte for byte, where the kills landed (and how many once a section was
written), and the load average (the machine is shared). Exit status 1 if any series lost,
redid or duplicated anything.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.crash.harness import KillPlanner, reference, run_with_kills  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--timed", type=int, default=15, help="kills by timer, not checkpoint")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--series", type=int, default=1)
    parser.add_argument("--max-extend", type=int, default=5)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory(prefix="draftwell-kill-") as tmp:
        ref = reference(Path(tmp) / "reference", args.max_extend)
        print(f"uninterrupted run: {len(ref.trace)} checkpoints, {len(ref.sections)} sections")
        for series in range(args.series):
            seed = args.seed + series
            planner = KillPlanner(args.kills, args.timed, random.Random(seed), ref)
            outcome = run_with_kills(Path(tmp) / f"series-{series}", planner, ref)
            sites = ", ".join(f"{k} {v}" for k, v in sorted(outcome.sites.items()))
            print(
                f"seed {seed}: kills survived {outcome.kills}/{outcome.planned} "
                f"(unreached {outcome.unreached}) | sections lost {outcome.sections_lost} | "
                f"steps rewound {outcome.steps_rewound} | history changed "
                f"{outcome.history_changed} | duplicates {outcome.duplicates} | verify problems "
                f"{len(outcome.verify_problems)} | report identical {outcome.report_identical}"
            )
            print(
                f"  not listed interrupted after a kill {len(outcome.misreported)} | stray "
                f"export temp files {outcome.stray_temp_files} | {outcome.launches} launches "
                f"in {outcome.seconds:.1f}s"
            )
            print(f"  kills landed in: {sites}; {outcome.late_kills} once a section was written")
            for problem in [*outcome.verify_problems, *outcome.misreported]:
                print(f"  {problem}")
            failed |= not outcome.clean
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
