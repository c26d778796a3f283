"""Benchmark one full research run with the embedded model and the sample documents.

The run goes to its natural end (nop, nothing left to expand) with the paper's budgets
(max_step 140, max_extend 12). Prints: steps; prompt tokens and tokens actually prefilled
(the prefill ratio over the whole run and per purpose); per step the prompt and prefilled
tokens, time to first token and tok/s (then p50/max); the share of step time spent outside
the model (engine overhead and retrieval, separately); and generation tok/s of the app's
backend vs raw llama-cpp-python on the run's last write prompt, with and without the grammar:
same prompt tokens and sampling parameters (repeat_penalty included), temperature 0 so both
produce the same tokens, up to 256 tokens, 3 alternating repetitions, median ratio (target
>= 0.97).

Usage: python bench/bench_engine.py [--max-steps N] [--max-extend N] [--question Q]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core.chat import ChatMessage, ChatRequest  # noqa: E402
from desktop.core.events import ListSink, StepCompleted, StepFailed  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
from desktop.knowledge.library import Library  # noqa: E402
from desktop.llm.llamacpp import LlamaCppBackend  # noqa: E402
from desktop.llm.models import embedded_model_path  # noqa: E402
from desktop.session import ResearchSession  # noqa: E402

QUESTION = "How do heat pumps compare with gas boilers for heating a home?"


class TimedRetriever:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def search(self, query: str, k: int):
        started = time.perf_counter()
        try:
            return self.inner.search(query, k)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


class RecordingBackend:
    """Wraps the real backend to keep the last write request for the tok/s comparison."""

    def __init__(self, inner: LlamaCppBackend) -> None:
        self.inner = inner
        self.write_request = None
        self.calls: list[tuple[str, int, int]] = []  # purpose, prompt tokens, prefilled

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def chat(self, request, on_delta=None, cancel=None):
        if request.purpose == "write":
            self.write_request = request
        result = self.inner.chat(request, on_delta, cancel)
        self.calls.append((request.purpose, result.prompt_tokens, result.prefilled_tokens))
        return result


# The tok/s comparison: both sides get the same prompt tokens and sampling parameters, greedy
# (temperature 0) so they produce the same tokens, a long enough generation, and repetitions.
COMPARE_MAX_TOKENS = 256
COMPARE_REPEATS = 3


@dataclass
class Generation:
    text: str
    tokens: int
    seconds: float  # from the first non-empty token to the end of the stream
    first_token: float  # from the call (after reset: a full prefill) to the first non-empty token

    @property
    def tokens_per_second(self) -> float:
        return (self.tokens - 1) / self.seconds if self.tokens > 1 and self.seconds > 0 else 0.0


# Without its grammar the write prompt makes the tiny model stop after ~20 tokens: too short to
# time, so the grammar-free comparison asks for an essay instead (it runs to max_tokens).
ESSAY_PROMPT = (
    "Write a long, detailed essay of at least 600 words on how heat pumps compare with gas "
    "boilers for heating a home: efficiency, running costs, installation, carbon emissions "
    "and comfort. Use several paragraphs."
)


def compare_request(request: ChatRequest, grammar: bool) -> ChatRequest:
    """The recorded write request (or the essay prompt) made greedy and long enough to time."""
    messages = request.messages if grammar else (ChatMessage("user", ESSAY_PROMPT),)
    return replace(
        request,
        messages=messages,
        temperature=0.0,
        max_tokens=COMPARE_MAX_TOKENS,
        grammar=request.grammar if grammar else None,
    )


def raw_generation(backend: LlamaCppBackend, request: ChatRequest) -> Generation:
    """Plain llama-cpp-python streaming on the same prompt tokens and sampling parameters."""
    llm = backend._llm
    prompt, stops = backend.format_prompt(request)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    grammar = compiled_grammar(request.grammar) if request.grammar else None
    started = time.perf_counter()
    first = None
    n = 0
    pieces = []
    for chunk in llm.create_completion(
        tokens,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        repeat_penalty=request.repeat_penalty,
        seed=request.seed,
        stop=list(request.stop) + stops,
        grammar=grammar,
        stream=True,
    ):
        n += 1
        text = chunk["choices"][0]["text"]
        if text and first is None:
            first = time.perf_counter()
        pieces.append(text)
    end = time.perf_counter()
    return Generation("".join(pieces), n, end - (first or end), (first or end) - started)


def compiled_grammar(text):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def app_generation(backend: LlamaCppBackend, request: ChatRequest) -> Generation:
    """The app's backend.chat() on the same request, timed the same way from outside (after a
    reset and without KV checkpoints: both sides prefill the whole prompt, neither copies state)."""
    backend._llm.reset()
    backend.checkpoints = None  # the run is over: no resuming, and no saving after the stream
    first: list[float] = []

    def on_delta(_text: str) -> None:
        if not first:
            first.append(time.perf_counter())

    started = time.perf_counter()
    result = backend.chat(request, on_delta)
    end = time.perf_counter()
    first_at = first[0] if first else end
    return Generation(result.text, result.completion_tokens, end - first_at, first_at - started)


def compare_generation(backend: LlamaCppBackend, request: ChatRequest, grammar: bool) -> None:
    """Print app vs raw tok/s over COMPARE_REPEATS alternating repetitions and the median ratio."""
    req = compare_request(request, grammar)
    ratios, apps, raws = [], [], []
    for i in range(COMPARE_REPEATS):
        if i % 2:  # alternate the order so neither side always runs on a warmer machine
            raw = raw_generation(backend, req)
            app = app_generation(backend, req)
        else:
            app = app_generation(backend, req)
            raw = raw_generation(backend, req)
        apps.append(app)
        raws.append(raw)
        ratios.append(app.tokens_per_second / max(raw.tokens_per_second, 1e-9))
    label = "with write grammar" if grammar else "no grammar"
    same = "/".join("yes" if a.text == r.text else "NO" for a, r in zip(apps, raws, strict=True))
    print(
        f"generation tok/s {label} (temperature 0, top_p {req.top_p}, repeat_penalty "
        f"{req.repeat_penalty}, max {req.max_tokens}, {COMPARE_REPEATS} runs): "
        f"app {' '.join(f'{a.tokens_per_second:.1f}' for a in apps)} vs raw "
        f"{' '.join(f'{r.tokens_per_second:.1f}' for r in raws)} "
        f"({apps[0].tokens} vs {raws[0].tokens} tokens, same text per run: {same}), "
        f"median ratio {statistics.median(ratios):.3f} (target >= 0.97)"
    )
    app_ttft = statistics.median(a.first_token for a in apps)
    raw_ttft = statistics.median(r.first_token for r in raws)
    print(
        f"  full-prefill time to first token ({label}): app {app_ttft:.3f} s vs raw "
        f"{raw_ttft:.3f} s (medians)"
    )


def print_steps(events: list) -> None:
    """Per step: phase, prompt tokens, prefilled tokens, time to first token, tok/s."""
    rows = [e for e in events if isinstance(e, StepCompleted | StepFailed) and e.metrics]
    print("per step (phase prompt/prefilled tokens, time to first token, generation tok/s):")
    for e in rows:
        m = e.metrics
        mark = "" if isinstance(e, StepCompleted) else " FAILED"
        print(
            f"  {e.step:>3} {e.phase:<11} {m.prompt_tokens:>5}/{m.prefilled_tokens:<5} "
            f"ttft {m.first_token_seconds:6.3f} s  {m.tokens_per_second:6.1f} tok/s{mark}"
        )
    ttft = [e.metrics.first_token_seconds for e in rows if not e.metrics.cached]
    ttft = [t for t in ttft if t > 0]
    if ttft:
        print(
            f"time to first token per step: p50 {statistics.median(ttft):.3f} s, "
            f"max {max(ttft):.3f} s over {len(ttft)} steps"
        )


def print_prefill_by_purpose(calls: list[tuple[str, int, int]]) -> None:
    """Per call: purpose, prompt tokens and prefilled tokens; then totals per purpose."""
    print("calls (purpose prompt/prefilled): " + ", ".join(f"{p} {n}/{f}" for p, n, f in calls))
    for purpose in sorted({p for p, _, _ in calls}):
        rows = [(n, f) for p, n, f in calls if p == purpose]
        prompt, filled = sum(n for n, _ in rows), sum(f for _, f in rows)
        print(
            f"  {purpose:<8} {len(rows):>3} calls, prompt {prompt:>6}, prefilled {filled:>6} "
            f"(ratio {filled / max(prompt, 1):.3f})"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=140)
    parser.add_argument("--max-extend", type=int, default=12)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--no-compare", action="store_true", help="skip the tok/s comparison")
    parser.add_argument("--no-checkpoints", action="store_true", help="live KV cache only")
    parser.add_argument(
        "--move", action="store_true", help="also move unchanged cached blocks (kv_reuse)"
    )
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="draftwell-bench-"))
    library = Library(data)
    t = time.perf_counter()
    library.add([ROOT / "resources" / "samples"])
    ingest_s = time.perf_counter() - t
    backend = LlamaCppBackend(
        embedded_model_path(),
        n_ctx=8192,
        kv_checkpoints=not args.no_checkpoints,
        reuse_moved_text=args.move,
    )
    recording = RecordingBackend(backend)
    retriever = TimedRetriever(library.retriever())
    retriever.search("warm up the embedder", 1)
    retriever.seconds = 0.0
    retriever.calls = 0
    sink = ListSink()
    config = RunConfig.for_small_model(max_step=args.max_steps, max_extend=args.max_extend)
    session = ResearchSession.start(
        data,
        args.question,
        sources=[],
        config=config,
        backend=recording,
        retriever=retriever,
        model_name="SmolLM2-135M",
        sink=sink,
    )
    t = time.perf_counter()
    state = session.run()
    run_s = time.perf_counter() - t
    metrics = [
        e.metrics for e in sink.events if isinstance(e, StepCompleted | StepFailed) and e.metrics
    ]
    prompt = sum(m.prompt_tokens for m in metrics)
    prefilled = sum(m.prefilled_tokens for m in metrics)
    completion = sum(m.completion_tokens for m in metrics)
    step_s = sum(m.seconds for m in metrics)
    model_s = sum(m.model_seconds for m in metrics)
    failed = len(sink.of(StepFailed))
    checkpoint_s = backend.checkpoints.seconds if backend.checkpoints is not None else 0.0
    outside = step_s - model_s - retriever.seconds - checkpoint_s
    print(f"ingest of resources/samples: {ingest_s:.1f} s")
    print(
        f"run: {state.step} steps ({failed} failed), stop reason {state.stop_reason}, "
        f"{run_s:.1f} s wall, sections {sum(1 for _ in state.outline.walk()) if state.outline else 0}"
    )
    print(
        f"prompt tokens {prompt}, prefilled {prefilled}, prefill ratio {prefilled / max(prompt, 1):.3f}"
    )
    print(f"completion tokens {completion}, model time {model_s:.1f} s of {step_s:.1f} s step time")
    print(
        f"retrieval: {retriever.calls} queries, {retriever.seconds:.2f} s "
        f"({retriever.seconds / step_s:.2%} of step time)"
    )
    print(
        f"engine overhead outside model and retrieval: {outside:.3f} s "
        f"({outside / step_s:.2%} of step time; target <= 1%)"
    )
    print_steps(sink.events)
    print_prefill_by_purpose(recording.calls)
    if backend.checkpoints is not None:
        print(
            f"KV checkpoints: {backend.checkpoints.restored} calls resumed from one "
            f"({backend.checkpoints.restored_tokens} tokens not prefilled again), "
            f"{backend.checkpoints.saved} saved, {len(backend.checkpoints.entries)} kept, "
            f"{backend.checkpoints.size / 2**20:.0f} MiB, {checkpoint_s:.2f} s saving and "
            f"restoring ({checkpoint_s / step_s:.2%} of step time, not in the overhead above)"
        )
    request = recording.write_request
    if request is not None and not args.no_compare:
        for use_grammar in (False, True):
            compare_generation(backend, request, use_grammar)
    session.close()
    library.close()
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
