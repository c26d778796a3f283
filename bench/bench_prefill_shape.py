"""Prefill ratio of Draftwell's prompt layout for the run shape of the real 8B model.

The embedded 135M model cannot produce a realistic run: it plans one to four sections, writes
~250 tokens of noise per section and runs out of things to expand after ~25 steps, so its
prompts stay short and each write's ten fresh passages dominate what is prefilled. This
benchmark keeps every real part that decides what is prefilled — the engine, its prompts and
abbreviation, the real llama.cpp backend with its live KV cache and KV checkpoints, the real
library and retrieval — and replaces only the model's *answers* with scripted ones of the
shape AgentCPM-Report produces (the paper: ~100 steps, ~40 retrievals): a 6-section plan,
sections of about 450 tokens that paraphrase and cite the evidence shown, extend-plans that
add 3 subsections to a section the policy picks (seeded), then nop.

Each call really prefills its prompt through LlamaCppBackend.chat (generation is cut to one
token; the scripted answer is returned instead). The answer's own tokens never matter for the
next prompt's prefix (every prompt ends with its output format, so the next one diverges
before the answer), which makes the prefill figures exactly those of a real run with these
answers. Prints the ratio over the run, per purpose and per step.

--move turns on the backend's opt-in moved-text reuse (desktop.llm.kv_reuse): unchanged blocks
of >= 64 tokens are shifted into place from the live cache or a checkpoint, whichever has the
most to reuse, and only the gaps and each prompt's last 128 tokens are evaluated. The moved cells
keep attention computed under their old preceding text, so answers are no longer identical to a
fresh prefill (bench_kv_reuse.py measures how far they move).

--simulate skips llama.cpp's evaluation (seconds instead of ~12 minutes): it tokenizes every
prompt with the model's tokenizer and replays the exact-prefix cache rules (live cache, newest
checkpoint of each purpose), which gives the same figure as the real run, plus a rough estimate
of moved-block reuse from the prefix source only.

Usage: python bench/bench_prefill_shape.py [--extends N] [--write-tokens N] [--seed N]
       [--simulate | --move [--verbose]]
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core.chat import ChatRequest, ChatResult  # noqa: E402
from desktop.core.events import ListSink, StepCompleted, StepFailed  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
from desktop.knowledge.library import Library  # noqa: E402
from desktop.llm.kv_checkpoints import KVCheckpoints, common_prefix  # noqa: E402
from desktop.llm.llamacpp import LlamaCppBackend  # noqa: E402
from desktop.llm.models import embedded_model_path  # noqa: E402
from desktop.session import ResearchSession  # noqa: E402

QUESTION = "How do heat pumps compare with gas boilers for heating a home?"
PLAN = [
    ("How the two systems work", "The physical principle of each and what that means in a home"),
    ("Efficiency in practice", "Seasonal performance and what lowers it, with measured figures"),
    ("Running costs", "Energy prices, tariffs and yearly bills for comparable homes"),
    ("Installation and the house", "Insulation, radiators, space and installation cost"),
    ("Carbon emissions", "Emissions per unit of heat and how the grid mix changes them"),
    ("Choosing between them", "Which homes suit which system and what to check first"),
]
SUBSECTIONS = [
    ("The figures in detail", "The measurements behind this section and their conditions"),
    ("A worked example", "One home from the documents, step by step"),
    ("Limits and open questions", "Where the sources disagree or stay silent"),
]
CHARS_PER_TOKEN = 4.3
SENTENCE_RE = re.compile(r"[^.!?]+[.!?]")


class ShapePolicy:
    """Scripted answers with the shape of an 8B run (see the module docstring)."""

    def __init__(self, extends: int, write_tokens: int, seed: int) -> None:
        self.extends = extends
        self.write_chars = int(write_tokens * CHARS_PER_TOKEN)
        self.random = random.Random(seed)
        self.extended = 0

    def reply(self, request: ChatRequest) -> str:
        prompt = request.messages[-1].content
        action = getattr(self, f"_{request.purpose}")(prompt)
        return f"<thought>{self.thought(request.purpose)}</thought>\n<action>{action}</action>"

    @staticmethod
    def thought(purpose: str) -> str:
        return f"The evidence at hand decides the {purpose.replace('_', ' ')}."

    @staticmethod
    def _search(prompt: str) -> str:
        """Keywords from the title of the section the instruction names (or the question)."""
        target = re.search(r"You need to update (section-[\d.]+|outline)", prompt).group(1)
        topic = QUESTION
        if target != "outline":
            number = target.removeprefix("section-")
            line = re.search(rf"Section-{re.escape(number)} \[([^\]]*)\]", prompt)
            topic = line.group(1) if line else QUESTION
        words = [w for w in re.findall(r"[A-Za-z]{4,}", topic)][:4] or ["heating"]
        keywords = [" ".join(words[:2]), " ".join(words[2:4]) or words[0]]
        return json.dumps({"name": "search", "keywords": keywords})

    @staticmethod
    def _init_plan(_prompt: str) -> str:
        sections = [{"title": t, "plan": p} for t, p in PLAN]
        return json.dumps(
            {"name": "init-plan", "title": QUESTION.rstrip("?"), "sections": sections}
        )

    def _write(self, prompt: str) -> str:
        block = prompt.split("** Retrieved Information **\n", 1)[1].split("\n\n## Action", 1)[0]
        passages = [
            (key, " ".join(text.split()))
            for key, text in re.findall(
                r"^bibkey:(textid\d+)\n(.*?)(?=\n\nbibkey:|\Z)", block, re.M | re.S
            )
        ]
        paragraphs, used = [], 0
        while used < self.write_chars:
            key, text = passages[len(paragraphs) % len(passages)]
            sentences = SENTENCE_RE.findall(text)[:3] or [text[:300] + "."]
            paragraph = " ".join(s.strip() for s in sentences)
            paragraph = f"{paragraph[:-1]} \\cite{{{key}}}{paragraph[-1]}"
            paragraphs.append(paragraph)
            used += len(paragraph)
        return "\n\n".join(paragraphs)

    def _extend_plan(self, prompt: str) -> str:
        forced = re.search(r"The user asked for (section-[\d.]+) to be expanded", prompt)
        choices = re.search(r"Positions that can be expanded: ([^\n]*)\.", prompt)
        positions = [p.strip() for p in choices.group(1).split(",")] if choices else []
        positions = [p for p in positions if p.startswith("section-")]
        if not forced and (self.extended >= self.extends or not positions):
            return json.dumps({"name": "nop"})
        self.extended += 1
        position = forced.group(1) if forced else self.random.choice(positions)
        subsections = [{"title": t, "plan": p} for t, p in SUBSECTIONS]
        return json.dumps({"name": "extend-plan", "position": position, "subsections": subsections})


class ShapeBackend:
    """The real backend prefills each prompt; the policy supplies the answer."""

    def __init__(self, inner: LlamaCppBackend, policy: ShapePolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.calls: list[tuple[str, int, int, float]] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def chat(self, request, on_delta=None, cancel=None) -> ChatResult:
        answer = self.policy.reply(request)
        probe = replace(request, max_tokens=1, grammar=None, temperature=0.0)
        result = self.inner.chat(probe, None, cancel)
        if on_delta is not None:
            on_delta(answer)
        self.calls.append(
            (request.purpose, result.prompt_tokens, result.prefilled_tokens, result.seconds)
        )
        tokens = self.inner.count_tokens(answer)
        return replace(result, text=answer, finish_reason="stop", completion_tokens=tokens)


SHIFT_BLOCK = 64  # the smallest unchanged run worth moving instead of evaluating


class SimulatedPrefill:
    """Replays the backend's cache rules on token lists instead of evaluating them."""

    def __init__(self, real: LlamaCppBackend) -> None:
        self.real = real
        self.live: list[int] = []
        self.newest: dict[str, list[int]] = {}  # the checkpoint kept per purpose
        self.shift_prefilled = 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def chat(self, request, on_delta=None, cancel=None) -> ChatResult:
        prompt, _ = self.real.format_prompt(request)
        tokens = self.real._llm.tokenize(prompt.encode(), add_bos=False, special=True)
        source = max([self.live, *self.newest.values()], key=lambda s: common_prefix(s, tokens))
        shared = min(common_prefix(source, tokens), len(tokens) - 1)
        matcher = difflib.SequenceMatcher(None, source[shared:], tokens[shared:], autojunk=False)
        moved = sum(b.size for b in matcher.get_matching_blocks() if b.size >= SHIFT_BLOCK)
        self.shift_prefilled += len(tokens) - shared - moved
        self.live = list(tokens)
        if KVCheckpoints.worth_saving(request.purpose):
            self.newest[request.purpose] = list(tokens)
        return ChatResult("", "stop", len(tokens), 1, len(tokens) - shared)


def print_report(calls: list[tuple[str, int, int, float]], state, wall: float) -> None:
    prompt = sum(c[1] for c in calls)
    filled = sum(c[2] for c in calls)
    sections = sum(1 for _ in state.outline.walk()) if state.outline else 0
    searches = sum(1 for c in calls if c[0] == "search")
    print(
        f"run: {state.step} steps, {searches} searches, {sections} sections, stop reason "
        f"{state.stop_reason}, {wall:.0f} s wall (prefill only)"
    )
    print(f"prompt tokens {prompt}, prefilled {filled}, prefill ratio {filled / prompt:.3f}")
    for purpose in sorted({c[0] for c in calls}):
        rows = [c for c in calls if c[0] == purpose]
        p, f = sum(c[1] for c in rows), sum(c[2] for c in rows)
        print(
            f"  {purpose:<11} {len(rows):>3} calls, prompt {p:>7}, prefilled {f:>7} ({f / p:.3f})"
        )
    print("per call (purpose prompt/prefilled):")
    print("  " + ", ".join(f"{c[0]} {c[1]}/{c[2]}" for c in calls))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extends", type=int, default=8, help="extend-plans before nop")
    parser.add_argument("--write-tokens", type=int, default=450, help="tokens per section")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--context", type=int, default=32768)
    parser.add_argument("--simulate", action="store_true", help="replay the cache on tokens")
    parser.add_argument("--move", action="store_true", help="also move unchanged cached blocks")
    parser.add_argument("--verbose", action="store_true", help="log the cache decisions")
    args = parser.parse_args()
    if args.verbose:
        logging.basicConfig(format="%(name)s: %(message)s")
        logging.getLogger("desktop.llm").setLevel(logging.DEBUG)
    data = Path(tempfile.mkdtemp(prefix="draftwell-shape-"))
    library = Library(data)
    library.add([ROOT / "resources" / "samples"])
    backend = LlamaCppBackend(
        embedded_model_path(),
        n_ctx=args.context,
        kv_checkpoints=not args.simulate,
        reuse_moved_text=args.move and not args.simulate,
    )
    inner = SimulatedPrefill(backend) if args.simulate else backend
    shaped = ShapeBackend(inner, ShapePolicy(args.extends, args.write_tokens, args.seed))
    sink = ListSink()
    session = ResearchSession.start(
        data,
        QUESTION,
        sources=[],
        config=RunConfig(max_step=140, max_extend=12),
        backend=shaped,
        retriever=library.retriever(),
        model_name="scripted 8B-shaped answers",
        sink=sink,
    )
    started = time.perf_counter()
    state = session.run()
    wall = time.perf_counter() - started
    failed = [e for e in sink.events if isinstance(e, StepFailed)]
    for event in failed:
        print(f"step {event.step} {event.phase} failed: {event.reason}")
    print_report(shaped.calls, state, wall)
    completed = sum(1 for e in sink.events if isinstance(e, StepCompleted))
    if args.simulate:
        prompt = sum(c[1] for c in shaped.calls)
        print(
            f"{completed} steps completed (simulated); moving unchanged blocks of >= "
            f"{SHIFT_BLOCK} tokens instead of evaluating them would leave "
            f"{inner.shift_prefilled} prefilled (ratio {inner.shift_prefilled / prompt:.3f})"
        )
    else:
        cp = backend.checkpoints
        print(
            f"{completed} steps completed; KV checkpoints: {cp.restored} resumes "
            f"({cp.restored_tokens} tokens not prefilled again), {cp.saved} saved, "
            f"{cp.seconds:.2f} s"
        )
    session.close()
    library.close()
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
