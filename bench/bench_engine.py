"""Benchmark one research run with the embedded model and the sample documents.

Prints: steps, prompt tokens, tokens actually prefilled (prefix reuse), generation tok/s of the
app's backend vs raw llama-cpp-python on the same prompt (with and without the grammar), and
the share of step time spent outside the model (engine overhead and retrieval, separately).

Usage: python bench/bench_engine.py [--max-steps N] [--max-extend N] [--question Q]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core.events import ListSink, StepCompleted, StepFailed  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
from desktop.knowledge.library import Library  # noqa: E402
from desktop.llm.base import ChatRequest  # noqa: E402
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

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def chat(self, request, on_delta=None, cancel=None):
        if request.purpose == "write":
            self.write_request = request
        return self.inner.chat(request, on_delta, cancel)


def raw_generation(
    backend: LlamaCppBackend, request: ChatRequest, grammar: bool
) -> tuple[float, int]:
    """tok/s of plain llama-cpp-python streaming on the same prompt tokens (prefill excluded)."""
    llm = backend._llm
    prompt, stops = backend.format_prompt(request)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    g = grammars_compiled(request.grammar) if grammar else None
    first = None
    n = 0
    for _ in llm.create_completion(
        tokens,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        seed=request.seed,
        stop=stops,
        grammar=g,
        stream=True,
    ):
        n += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return (n - 1) / (end - first) if n > 1 else 0.0, n


def grammars_compiled(text):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def app_generation(
    backend: LlamaCppBackend, request: ChatRequest, grammar: bool
) -> tuple[float, int]:
    backend._llm.reset()
    req = (
        request
        if grammar
        else ChatRequest(
            **{**{f: getattr(request, f) for f in request.__dataclass_fields__}, "grammar": None}
        )
    )
    result = backend.chat(req)
    return result.tokens_per_second, result.completion_tokens


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--max-extend", type=int, default=2)
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="draftwell-bench-"))
    library = Library(data)
    t = time.perf_counter()
    library.add([ROOT / "resources" / "samples"])
    ingest_s = time.perf_counter() - t
    backend = LlamaCppBackend(embedded_model_path(), n_ctx=8192)
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
    outside = step_s - model_s - retriever.seconds
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
    request = recording.write_request
    if request is not None:
        for use_grammar in (False, True):
            app_tps, app_n = app_generation(backend, request, use_grammar)
            raw_tps, raw_n = raw_generation(backend, request, use_grammar)
            label = "with write grammar" if use_grammar else "no grammar"
            print(
                f"generation tok/s {label}: app {app_tps:.1f} ({app_n} tok) vs raw "
                f"{raw_tps:.1f} ({raw_n} tok), ratio {app_tps / max(raw_tps, 1e-9):.2f}"
            )
    session.close()
    library.close()
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
