"""How much moving cached text saves, and how far it moves the answers (desktop.llm.kv_reuse).

Records the prompts of a real embedded-model run (exact prefix reuse, so the trajectory is the
model's own), then replays every consecutive pair of calls two ways with greedy sampling:

- moved: the previous prompt is in the KV cache, unchanged blocks are moved to their new
  positions and only the gaps and the tail are evaluated (`reuse_moved_text=True`);
- 2-seq: exact prefixes only, in the two-sequence unified-cache context that moving needs (the
  context alone changes llama.cpp's float arithmetic a little);
- prefix: the previous prompt is cached, only the exact shared prefix is reused (the default);
- empty: the same prompt evaluated from an empty cache.

Prints per call the prompt, the tokens each way evaluated, and whether the greedy answers
(first MAX_TOKENS tokens) of moved and of prefix agree with empty's: identical, or the token where
they first differ. Prefix reuse is exact in theory, but evaluating in other slices changes the
order of float sums, so its column is the noise floor the moved column should be read against. Greedy decoding
amplifies any difference (one flipped token changes everything after it), so agreement is a
strict measure; the small model is also far more sensitive than an 8B to small perturbations.

Then a recall probe: a prompt states a secret word, a long unchanged passage follows, and the
prompt ends by asking for the word; the word changes between two calls, so with moved text the
passage's cells were computed with the old word before them. Prints how often the moved answer
matches the answer from an empty cache.

Run: .venv/bin/python bench/bench_kv_reuse.py [--max-steps 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from desktop.core.chat import ChatMessage, ChatRequest  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
from desktop.knowledge.library import Library  # noqa: E402
from desktop.llm.llamacpp import LlamaCppBackend  # noqa: E402
from desktop.llm.models import embedded_model_path  # noqa: E402
from desktop.session import ResearchSession  # noqa: E402

QUESTION = "How do heat pumps compare with gas boilers on running costs and emissions?"
MAX_TOKENS = 48


class Recorder:
    """Passes calls to the real backend and keeps every request."""

    def __init__(self, inner: LlamaCppBackend) -> None:
        self.inner = inner
        self.requests = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def chat(self, request, on_delta=None, cancel=None):
        self.requests.append(request)
        return self.inner.chat(request, on_delta, cancel)


def record_run(max_steps: int) -> list:
    data = Path(tempfile.mkdtemp(prefix="draftwell-kvreuse-"))
    library = Library(data)
    library.add([ROOT / "resources" / "samples"])
    backend = LlamaCppBackend(embedded_model_path(), n_ctx=8192, kv_checkpoints=False)
    recorder = Recorder(backend)
    session = ResearchSession.start(
        data,
        QUESTION,
        sources=[],
        config=RunConfig.for_small_model(max_step=max_steps, max_extend=12),
        backend=recorder,
        retriever=library.retriever(),
        model_name="SmolLM2-135M",
    )
    state = session.run()
    backend.close()
    library.close()
    print(f"recorded run: {state.step} steps, {len(recorder.requests)} calls")
    return recorder.requests


def greedy(request):
    return replace(request, temperature=0.0, max_tokens=MAX_TOKENS, seed=1)


def first_difference(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def replay(requests) -> None:
    def load(**options) -> LlamaCppBackend:
        return LlamaCppBackend(embedded_model_path(), n_ctx=8192, kv_checkpoints=False, **options)

    two_sequences = load(reuse_moved_text=True)
    two_sequences.moves_text = False  # the same context as "moved", exact prefixes only
    backends = {
        "moved": load(reuse_moved_text=True),
        "2-seq": two_sequences,
        "prefix": load(),
        "empty": load(),
    }
    tokenize = backends["empty"]._llm.tokenize
    prompt_total = 0
    evaluated = dict.fromkeys(backends, 0)
    seconds = dict.fromkeys(backends, 0.0)
    differ: dict[str, list[int]] = {"moved": [], "2-seq": [], "prefix": []}
    print(f"{'call':>4} {'purpose':<11} {'prompt':>6} {'moved':>6} {'prefix':>6}  answers vs empty")
    for n, (previous, request) in enumerate(zip(requests, requests[1:], strict=False), start=2):
        answers, last = {}, {}
        for name, backend in backends.items():
            if name == "empty":
                backend._llm.n_tokens = 0  # nothing cached: everything is evaluated
            else:
                backend.chat(replace(previous, max_tokens=1, grammar=None))
            began = time.perf_counter()
            result = backend.chat(greedy(request))
            seconds[name] += time.perf_counter() - began
            evaluated[name] += result.prefilled_tokens
            last[name] = result.prefilled_tokens
            answers[name] = tokenize(result.text.encode(), add_bos=False)
        prompt_total += result.prompt_tokens
        verdicts = []
        for name in differ:
            where = first_difference(answers[name], answers["empty"])
            if where is not None:
                differ[name].append(where)
            verdicts.append(f"{name} " + ("same" if where is None else f"differs at {where}"))
        print(
            f"{n:>4} {request.purpose:<11} {result.prompt_tokens:>6} {last['moved']:>6} "
            f"{last['prefix']:>6}  " + ", ".join(verdicts)
        )
    pairs = len(requests) - 1
    for name in backends:
        print(
            f"{name:<6} evaluated {evaluated[name]:>6} of {prompt_total} prompt tokens "
            f"({evaluated[name] / prompt_total:.3f}), {seconds[name]:.1f} s"
        )
    for name in differ:
        print(
            f"{name:<6} greedy answers ({MAX_TOKENS} tokens) identical to empty's in "
            f"{pairs - len(differ[name])} of {pairs} calls; first differences at {sorted(differ[name])}"
        )
    for backend in backends.values():
        backend.close()


PROBE_FILLER = " ".join(
    f"Line {i}: the survey of town {i} counted {i * 37} homes with boilers." for i in range(12)
)
PROBE_WORDS = [
    ("apple", "banana"),
    ("green", "purple"),
    ("Paris", "London"),
    ("table", "window"),
    ("river", "mountain"),
    ("cat", "dog"),
]


def probe_request(word: str):
    text = (
        f"Remember this. The secret word is {word}.\n{PROBE_FILLER}\n"
        "Question: what is the secret word? Answer: The secret word is"
    )
    return ChatRequest((ChatMessage("user", text),), max_tokens=9, temperature=0.0)


def recall_probe() -> None:
    moving = LlamaCppBackend(
        embedded_model_path(), n_ctx=4096, kv_checkpoints=False, reuse_moved_text=True
    )
    same = 0
    for old, new in PROBE_WORDS:
        moving.chat(probe_request(old))
        moved = moving.chat(probe_request(new))
        moving._llm.n_tokens = 0
        empty = moving.chat(probe_request(new))
        same += moved.text == empty.text
        print(f"  {old} -> {new}: moved {moved.text!r}, empty cache {empty.text!r}")
    print(f"recall probe: moved answer = empty-cache answer in {same} of {len(PROBE_WORDS)}")
    moving.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-steps", type=int, default=40)
    args = parser.parse_args()
    replay(record_run(args.max_steps))
    recall_probe()
    return 0


if __name__ == "__main__":
    sys.exit(main())
