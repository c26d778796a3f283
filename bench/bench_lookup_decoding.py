"""Prompt-lookup speculative decoding and the time-to-finish estimate, on real prompts.

Three parts (run them in this order; `record` writes what the others read):

  record  A full research run with the embedded model over real Debian manuals (R's
          "An Introduction to R" and "R Data Import/Export" from r-doc-pdf; fetched with
          scripts/fetch_manuals.sh unless /work/corpora holds them). Saves every request the
          engine sent (prompts.jsonl: messages, grammar, sampling, purpose) and every event
          with its time (events.pickle), so the other parts replay the same prompts/timeline.
  replay  On the recorded prompts, in one process and one model load: each call greedy
          (temperature 0) with the drafter off (the plain one-token loop) and on, alternating;
          per call type (write, search, init_plan, extend_plan): generation tok/s both ways,
          the ratio, the acceptance rate, whether the drafted output is identical to the plain
          output and to the teacher-forced reference (the tokens the model picks when prompt
          and answer are evaluated as one batch; see desktop/llm/lookup_decoding.py), and once
          more at the run's own temperature with its seed.
  eta     The time-to-finish estimate (desktop/core/eta.py) replayed over the recorded run's
          events: the estimate made at 25 %, 50 % and 75 % of the run against the actual
          finish; and the same on the scripted 8B-shaped run (bench_prefill_shape's policy,
          --simulate cache rules) with step times from an 8B laptop speed model.

Usage: python bench/bench_lookup_decoding.py record [--out DIR] [--max-steps N]
       python bench/bench_lookup_decoding.py replay [--out DIR] [--limit N] [--max-tokens N]
       python bench/bench_lookup_decoding.py eta [--out DIR]
Note `uptime` next to the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core.state import RunConfig  # noqa: E402
from desktop.llm.base import ChatMessage, ChatRequest  # noqa: E402
from desktop.llm.llamacpp import LlamaCppBackend  # noqa: E402
from desktop.llm.models import embedded_model_path  # noqa: E402

QUESTION = "How do you import data from spreadsheets, text files and databases into R?"
MANUALS = ("R-intro.pdf", "R-data.pdf")
CORPORA = Path("/work/corpora/x")
DEFAULT_OUT = Path(tempfile.gettempdir()) / "draftwell-lookup-bench"


def manual_paths() -> list[Path]:
    """The R manuals: from /work/corpora when unpacked there, else via fetch_manuals.sh."""
    for base in (CORPORA, None):
        if base is None:
            fetched = subprocess.run(
                [str(ROOT / "scripts" / "fetch_manuals.sh")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            base = Path(fetched) / "root"
        found = [base / "usr/share/R/doc/manual" / name for name in MANUALS]
        if all(p.exists() for p in found):
            return found
    raise SystemExit("the R manuals were not found")


# ---- record ---------------------------------------------------------------------------------
class RecordingBackend:
    """The real backend; every request and its result's figures go to prompts.jsonl."""

    def __init__(self, inner: LlamaCppBackend, out) -> None:
        self.inner = inner
        self.out = out

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def chat(self, request, on_delta=None, cancel=None):
        result = self.inner.chat(request, on_delta, cancel)
        row = {"request": asdict(request), "result": asdict(result)}
        self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.out.flush()
        return result


class TimedEvents:
    """Keeps every engine event with its perf_counter time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, object]] = []

    def emit(self, event) -> None:
        self.events.append((time.perf_counter(), event))


def record(args) -> int:
    from desktop.core.events import StepCompleted, StepFailed
    from desktop.knowledge.library import Library
    from desktop.session import ResearchSession

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"  # the library is kept: a second recording skips the indexing
    library = Library(data)
    sources = manual_paths()
    began = time.perf_counter()
    library.add(sources)
    print(f"indexed {', '.join(p.name for p in sources)} in {time.perf_counter() - began:.0f} s")
    backend = LlamaCppBackend(embedded_model_path(), n_threads=args.threads, prompt_lookup=False)
    sink = TimedEvents()
    config = RunConfig.for_small_model(max_step=args.max_steps, max_extend=args.max_extend)
    with (out / "prompts.jsonl").open("w", encoding="utf-8") as fh:
        session = ResearchSession.start(
            data,
            QUESTION,
            sources=[str(p) for p in sources],
            config=config,
            backend=RecordingBackend(backend, fh),
            retriever=library.retriever(),
            model_name=embedded_model_path().name,
            sink=sink,
        )
        started = time.perf_counter()
        state = session.run()
        finished = time.perf_counter()
    with (out / "events.pickle").open("wb") as fh:
        pickle.dump(
            {"config": config, "started": started, "finished": finished, "events": sink.events},
            fh,
        )
    steps = sum(1 for _, e in sink.events if isinstance(e, StepCompleted | StepFailed))
    print(
        f"run: {state.step} steps ({steps} with a call), stop {state.stop_reason}, "
        f"{finished - started:.0f} s; recorded in {out}"
    )
    session.close()
    library.close()
    backend.close()
    return 0


def load_requests(out: Path) -> list[tuple[ChatRequest, dict]]:
    rows = []
    for line in (out / "prompts.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        req = row["request"]
        req["messages"] = tuple(ChatMessage(**m) for m in req["messages"])
        req["stop"] = tuple(req["stop"])
        rows.append((ChatRequest(**req), row["result"]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="part", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--max-steps", type=int, default=140)
    rec.add_argument("--max-extend", type=int, default=12)
    rep = sub.add_parser("replay")
    rep.add_argument("--limit", type=int, default=0, help="at most N calls per call type")
    rep.add_argument("--max-tokens", type=int, default=0, help="cap each call's answer")
    for p in (rec, rep):
        # One thread: llama.cpp's threads spin while they wait, so on a loaded machine a
        # second one makes every token slower (see tests/llm/conftest.py).
        p.add_argument("--threads", type=int, default=1)
    sub.add_parser("eta")
    for p in (rec, rep, sub.choices["eta"]):
        p.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    return {"record": record, "replay": replay, "eta": eta}[args.part](args)


def replay(args) -> int:
    raise SystemExit("replay: not written yet")


def eta(args) -> int:
    raise SystemExit("eta: not written yet")


if __name__ == "__main__":
    sys.exit(main())
