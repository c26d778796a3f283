"""Prompt-lookup speculative decoding and the time-to-finish estimate, on real prompts.

Three parts (run them in this order; `record` writes what the others read):

  record  A full research run with the embedded model over real Debian manuals (R's
          "An Introduction to R" and "R Data Import/Export" from r-doc-pdf; fetched with
          scripts/fetch_manuals.sh unless /work/corpora holds them). Saves every request the
          engine sent (prompts.jsonl: messages, grammar, sampling, purpose) and every event
          with its time (events.pickle), so the other parts replay the same prompts/timeline.
  replay  On the recorded prompts, in one process and one model load: each call greedy
          (temperature 0) with the drafter off (the plain one-token loop) and on, alternating,
          with flash attention on (the backend drafts only then; --no-flash-attn measures the
          inexact mode);
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
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core.chat import ChatMessage, ChatRequest  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
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
    rep.add_argument("--sampled", action="store_true", help="also at the run's temperature")
    rep.add_argument("--types", type=lambda t: t.split(","), default=[], help="e.g. write,search")
    rep.add_argument(
        "--no-flash-attn",
        dest="flash_attn",
        action="store_false",
        help="measure without flash attention (the backend then never drafts: not exact)",
    )
    for p in (rec, rep):
        # One thread: llama.cpp's threads spin while they wait, so on a loaded machine a
        # second one makes every token slower (see tests/llm/conftest.py).
        p.add_argument("--threads", type=int, default=1)
    eta_part = sub.add_parser("eta")
    eta_part.add_argument(
        "--shaped-extends",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[8],
        help="extensions the scripted run makes before its nop (comma-separated runs)",
    )
    for p in (rec, rep, eta_part):
        p.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    return {"record": record, "replay": replay, "eta": eta}[args.part](args)


# ---- replay ---------------------------------------------------------------------------------
def replay(args) -> int:
    from desktop.llm import lookup_decoding as ld

    out = Path(args.out)
    rows = load_requests(out)
    per_type: dict[str, int] = {}
    chosen = []
    for request, _ in rows:
        if args.types and request.purpose not in args.types:
            continue
        if args.limit and per_type.get(request.purpose, 0) >= args.limit:
            continue
        per_type[request.purpose] = per_type.get(request.purpose, 0) + 1
        chosen.append(request)
    backend = LlamaCppBackend(
        embedded_model_path(),
        n_threads=args.threads,
        flash_attn=args.flash_attn,
        prompt_lookup=False,
    )
    print(
        f"load before: {os.getloadavg()[0]:.1f}; {len(chosen)} recorded calls; "
        f"flash attention {'on' if args.flash_attn else 'off'}"
    )
    figures: dict[str, dict[str, float]] = {}
    mismatches = []
    for i, request in enumerate(chosen):
        greedy = replace(request, temperature=0.0)
        if args.max_tokens:
            greedy = replace(greedy, max_tokens=min(greedy.max_tokens, args.max_tokens))
        order = ("plain", "draft") if i % 2 == 0 else ("draft", "plain")
        results = {}
        for mode in order:
            backend.lookup_purposes = (
                frozenset({request.purpose}) if mode == "draft" else frozenset()
            )
            results[mode] = backend.chat(greedy)
        plain, draft = results["plain"], results["draft"]
        row = figures.setdefault(request.purpose, dict.fromkeys(_FIELDS, 0.0))
        row["calls"] += 1
        row["tokens"] += plain.completion_tokens
        row["plain_s"] += _generation_seconds(plain)
        row["draft_s"] += _generation_seconds(draft)
        row["drafted"] += draft.drafted_tokens
        row["accepted"] += draft.accepted_tokens
        same = plain.text == draft.text
        row["identical"] += same
        if not same:
            backend.lookup_purposes = frozenset({request.purpose})
            guesses = _with_drafter(backend, greedy, ld.NgramDrafter(max_ngram=64, min_ngram=64))
            row["draft_invariant"] += guesses.text == draft.text
            mismatches.append((request.purpose, i, _first_difference(plain.text, draft.text)))
        else:
            row["draft_invariant"] += 1
        if args.sampled:
            sampled = {}
            for mode in ("plain", "draft"):
                backend.lookup_purposes = (
                    frozenset({request.purpose}) if mode == "draft" else frozenset()
                )
                sampled[mode] = backend.chat(replace(greedy, temperature=request.temperature))
            row["sampled_identical"] += sampled["plain"].text == sampled["draft"].text
        print(
            f"  {i + 1}/{len(chosen)} {request.purpose:<11} {plain.completion_tokens:>4} tok  "
            f"plain {_rate(plain):5.1f} tok/s  draft {_rate(draft):5.1f} tok/s  "
            f"accepted {draft.accepted_tokens}/{draft.drafted_tokens}  "
            f"{'identical' if same else 'DIFFERS'}",
            flush=True,
        )
    backend.close()
    print_replay(figures, mismatches, args.sampled)
    return 0


_FIELDS = (
    "calls",
    "tokens",
    "plain_s",
    "draft_s",
    "drafted",
    "accepted",
    "identical",
    "draft_invariant",
    "sampled_identical",
)


def _generation_seconds(result) -> float:
    return max(1e-9, result.seconds - result.first_token_seconds)


def _rate(result) -> float:
    return result.completion_tokens / _generation_seconds(result)


def _with_drafter(backend, request, drafter):
    """One call with a given drafter (the backend normally makes its own)."""
    make = backend._drafter
    backend._drafter = lambda _purpose: drafter
    try:
        return backend.chat(request)
    finally:
        backend._drafter = make


def _first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"at char {i}: {a[max(0, i - 30) : i + 20]!r} vs {b[max(0, i - 30) : i + 20]!r}"


def print_replay(figures, mismatches, sampled: bool) -> None:
    print(f"load after: {os.getloadavg()[0]:.1f}")
    print(
        "call type     calls  tokens  plain tok/s  draft tok/s  ratio  acceptance  "
        "tok/pass  pass cost  identical  drafter-invariant"
        + ("  sampled identical" if sampled else "")
    )
    for purpose, r in sorted(figures.items()):
        plain, draft = r["tokens"] / r["plain_s"], r["tokens"] / r["draft_s"]
        acceptance = r["accepted"] / r["drafted"] if r["drafted"] else 0.0
        # Each drafted pass yields one token plus the drafts it accepted, so the passes are the
        # tokens less the accepted drafts. tok/pass bounds the speed-up where a pass of a few
        # tokens costs what one token does (a memory-bound model); pass cost is what a
        # verifying pass costs here, in single-token decodes (ratio = tok/pass / pass cost).
        passes = max(1.0, r["tokens"] - r["accepted"])
        per_pass = r["tokens"] / passes
        pass_cost = (r["draft_s"] / passes) / (r["plain_s"] / r["tokens"])
        line = (
            f"{purpose:<12} {int(r['calls']):>6} {int(r['tokens']):>7} {plain:>12.1f} "
            f"{draft:>12.1f} {draft / plain:>6.2f} {acceptance:>11.2f} {per_pass:>9.2f} "
            f"{pass_cost:>10.2f} "
            f"{int(r['identical']):>5}/{int(r['calls']):<4} {int(r['draft_invariant']):>9}/"
            f"{int(r['calls'])}"
        )
        if sampled:
            line += f"  {int(r['sampled_identical']):>9}/{int(r['calls'])}"
        print(line)
    for purpose, i, where in mismatches:
        print(f"  plain and drafted differ, call {i + 1} ({purpose}) {where}")


# ---- eta ------------------------------------------------------------------------------------
FRACTIONS = (0.25, 0.5, 0.75)
# A laptop CPU with an 8B model at Q4: prompt evaluation and generation speeds (tokens/s), and
# the seconds a search's retrieval takes.
LAPTOP_8B = {"prefill": 60.0, "generate": 5.0, "retrieval": 1.0}


def replay_estimates(config, timeline):
    """Feed the estimator the run's events; [(time, estimate)] after every step."""
    from desktop.core.eta import TimeEstimator
    from desktop.core.events import OutlineChanged, StepCompleted, StepFailed

    est = TimeEstimator(config)
    outline, phase, step, extend_count, added = None, "search", 0, 0, None
    made = []
    for t, event in timeline:
        match event:
            case OutlineChanged(new, reason):
                if reason == "extend-plan" and outline is not None:
                    added = _size(new) - _size(outline)
                outline = new
                continue
            case StepCompleted(n, kind, next_phase, m):
                est.observe(kind, m, next_phase=next_phase, subsections=added)
                step, phase = n, next_phase
                extend_count += kind == "extend_plan" and next_phase != "done"
            case StepFailed(n, kind, _, m):
                est.observe(kind, m, failed=True)
                step = n
                extend_count += kind == "extend_plan"
            case _:
                continue
        added = None
        estimate = est.estimate(outline, phase, step, extend_count)
        if estimate is not None:
            made.append((t, estimate))
    return made


def _size(outline) -> int:
    return sum(1 for _ in outline.walk())


def eta_errors(label: str, made, started: float, finished: float) -> None:
    total = finished - started
    print(f"{label}: {total:.0f} s in all, {len(made)} estimates")
    for fraction in FRACTIONS:
        at = started + fraction * total
        before = [(t, e) for t, e in made if t <= at]
        if not before:
            print(f"  at {fraction:.0%}: no estimate yet")
            continue
        t, e = before[-1]
        aged = e.seconds - (at - t)
        low, high = e.low - (at - t), e.high - (at - t)
        actual = finished - at
        inside = low <= actual <= high
        print(
            f"  at {fraction:.0%} ({at - started:.0f} s): estimated {aged:.0f} s left "
            f"(range {max(0, low):.0f}-{high:.0f}), actual {actual:.0f} s, error "
            f"{(aged - actual) / actual:+.0%}, actual {'inside' if inside else 'OUTSIDE'} range"
        )


def eta(args) -> int:
    out = Path(args.out)
    if (out / "events.pickle").exists():
        recorded = pickle.loads((out / "events.pickle").read_bytes())
        made = replay_estimates(recorded["config"], recorded["events"])
        eta_errors(
            "embedded-model run over the R manuals", made, recorded["started"], recorded["finished"]
        )
    else:
        print(f"no recorded run in {out} (run `record` first); the scripted run only")
    for extends in args.shaped_extends:
        cached = out / f"shaped-timeline-{extends}.pickle"  # the scripted run does not change
        if cached.exists():
            shaped = pickle.loads(cached.read_bytes())
        else:
            shaped = shaped_timeline(extends)
            out.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(pickle.dumps(shaped))
        made = replay_estimates(shaped["config"], shaped["events"])
        eta_errors(
            f"scripted 8B-shaped run, {extends} extensions of 12 "
            f"({LAPTOP_8B['prefill']:.0f} tok/s prefill, "
            f"{LAPTOP_8B['generate']:.0f} tok/s generation)",
            made,
            0.0,
            shaped["finished"],
        )
    return 0


def shaped_timeline(extends: int) -> dict:
    """bench_prefill_shape's 8B-shaped run (its cache rules on real tokens, --simulate) with
    each step's seconds from the LAPTOP_8B speeds: prefilled/prefill + generated/generate
    (+ retrieval for a search)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_prefill_shape as shape

    from desktop.core.events import ListSink, StepCompleted, StepFailed
    from desktop.knowledge.library import Library
    from desktop.session import ResearchSession

    data = Path(tempfile.mkdtemp(prefix="draftwell-eta-shape-"))
    library = Library(data)
    library.add([ROOT / "resources" / "samples"])
    backend = LlamaCppBackend(embedded_model_path(), n_ctx=32768, n_threads=1, kv_checkpoints=False)
    shaped = shape.ShapeBackend(shape.SimulatedPrefill(backend), shape.ShapePolicy(extends, 450, 0))
    sink = ListSink()
    config = RunConfig(max_step=140, max_extend=12)
    session = ResearchSession.start(
        data,
        shape.QUESTION,
        sources=[],
        config=config,
        backend=shaped,
        retriever=library.retriever(),
        model_name="scripted 8B-shaped answers",
        sink=sink,
    )
    session.run()
    session.close()
    library.close()
    backend.close()
    clock, timeline = 0.0, []
    for event in sink.events:
        if isinstance(event, StepCompleted | StepFailed) and event.metrics is not None:
            m = event.metrics
            prefill = m.prefilled_tokens / LAPTOP_8B["prefill"]
            seconds = prefill + m.completion_tokens / LAPTOP_8B["generate"]
            seconds += LAPTOP_8B["retrieval"] if event.phase == "search" else 0.0
            clock += seconds
            event = replace(event, metrics=replace(m, seconds=seconds, first_token_seconds=prefill))
        timeline.append((clock, event))
    return {"config": config, "events": timeline, "finished": clock}


if __name__ == "__main__":
    sys.exit(main())
