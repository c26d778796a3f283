"""What grammar-constrained writing costs, before and after the Markdown write grammar.

On one real write prompt (the sample documents' text as the evidence pack, the trained
layout), greedy, up to 200 new tokens, each variant alternated over 3 repetitions after a
cache reset (so the first token includes a full prefill):

- before: the old sentence grammar (bounded repetitions, `[^…]{1,400}`), sampled the old way
  (llama-cpp-python's create_completion: the grammar masks the whole vocabulary each token);
- after: the Markdown write grammar through the app's sampler (the grammar checks the sampled
  token, and masks the vocabulary only when it refuses one);
- none: the same prompt and sampler without a grammar.

Prints time to first token and per-token time of each, the ratios against no grammar (targets:
first token <= 1.1x, per token <= 1.3x), what one full-vocabulary mask costs for each grammar
(llama.cpp's own engine, via GrammarProbe), and the prompt tokens of the four call types for a
mid-run state. Texts differ between grammars (each constrains differently), so per-token time
is also given on a like-for-like basis: the grammar's own time per token on the same text.

Usage: python bench/bench_grammar.py [--repeats N] [--max-tokens N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core import grammars, prompts  # noqa: E402
from desktop.core.chat import ChatRequest  # noqa: E402
from desktop.core.evidence import EvidenceRegistry, Passage  # noqa: E402
from desktop.core.outline import Outline  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
from desktop.llm.grammar_probe import GrammarProbe  # noqa: E402
from desktop.llm.llamacpp import LlamaCppBackend  # noqa: E402
from desktop.llm.models import embedded_model_path  # noqa: E402

QUESTION = "How do heat pumps compare with gas boilers for heating a home?"


def legacy_write_grammar(keys: list[str], sentence_chars: int = 400, thought: int = 300) -> str:
    """The write grammar before the Markdown one (kept here only to measure it)."""
    key_rule = " | ".join(f'"{k}"' for k in keys)
    excluded = "<>\\\\#{}\\n.!?。！？"
    return (
        f'root ::= "<thought>" thought "</thought>" "\\n"? "<action>" body "</action>"\n'
        f"thought ::= [^<]{{0,{thought}}}\n"
        'body ::= "\\n"? para ("\\n\\n" para){0,7} "\\n"?\n'
        "para ::= chunk (ws chunk){0,11}\n"
        "chunk ::= (sent | csent)\n"
        'ws ::= " "?\n'
        f"txt ::= [^{excluded}]{{1,{sentence_chars}}}\n"
        "sent ::= txt term\n"
        "csent ::= txt cite term\n"
        "term ::= [.!?。！？]\n"
        'cite ::= " "? "\\\\cite{" key ("," " "? key){0,2} "}"\n'
        f"key ::= {key_rule}\n"
    )


def sample_passages() -> list[Passage]:
    import pymupdf

    passages = []
    for pdf in sorted((ROOT / "resources" / "samples").glob("*.pdf")):
        with pymupdf.open(pdf) as doc:
            for number, page in enumerate(doc, start=1):
                words = page.get_text().split()
                for start in range(0, len(words), 90):
                    text = " ".join(words[start : start + 90])
                    if len(text) > 200:
                        passages.append(Passage(text, str(pdf), page=number, chunk_id=f"{start}"))
    return passages[:10]


def build_prompts() -> tuple[dict[str, str], list[str]]:
    registry, keys = EvidenceRegistry().with_passages(sample_passages())
    outline = Outline.initial(
        "Heat pumps or gas boilers",
        [
            ("Running costs", "Bills per year."),
            ("Emissions", "CO2 per kWh of heat."),
            ("Satisfaction", "What owners report."),
        ],
    )
    written = outline.with_content(
        outline.sections[0].id,
        "Heat pumps cost less to run where electricity is cheap "
        + "\\cite{textid1}. " * 1
        + "Their efficiency falls in cold weather. " * 20,
    )
    done = written.with_content(outline.sections[1].id, "Lower. " * 30).with_content(
        outline.sections[2].id, "High. " * 30
    )
    built = {
        "search": prompts.search_prompt(QUESTION, written, "section-2", "en"),
        "init_plan": prompts.init_plan_prompt(QUESTION, registry, keys, "en"),
        "write": prompts.write_prompt(QUESTION, written, registry, keys, "en"),
        "extend_plan": prompts.extend_plan_prompt(
            QUESTION, done, ["section-1", "section-2", "section-3"], "en", forced=False
        ),
    }
    return built, keys


def old_path(backend: LlamaCppBackend, request: ChatRequest) -> tuple[float, float, int]:
    """llama-cpp-python's own streaming sampler: grammar applied to the full vocabulary."""
    from llama_cpp import LlamaGrammar

    llm = backend._llm
    prompt, stops = backend.format_prompt(request)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    grammar = LlamaGrammar.from_string(request.grammar, verbose=False) if request.grammar else None
    started = time.perf_counter()
    first, n = None, 0
    for chunk in llm.create_completion(
        tokens,
        max_tokens=request.max_tokens,
        temperature=0.0,
        stop=stops,
        grammar=grammar,
        stream=True,
    ):
        n += 1
        if first is None and chunk["choices"][0]["text"]:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    first = first or total
    return first, (total - first) / max(1, n - 1), n


def app_path(backend: LlamaCppBackend, request: ChatRequest) -> tuple[float, float, int]:
    backend._llm.reset()
    if backend.checkpoints is not None:
        backend.checkpoints.clear()
    result = backend.chat(request)
    gen = result.seconds - result.first_token_seconds
    return (
        result.first_token_seconds,
        gen / max(1, result.completion_tokens - 1),
        (result.completion_tokens),
    )


def forced_seconds_per_token(
    backend: LlamaCppBackend, request: ChatRequest, text: str
) -> tuple[float, int]:
    """Decode `text` token by token after the prompt, sampling each step with the app's own
    sampler for `request` (its repeat penalty, with or without its grammar) but keeping the
    given token: the same tokens, so the difference between grammar and none is the grammar's
    own cost per token. Also returns how often the grammar refused the sampled token (each
    refusal costs one full-vocabulary mask)."""
    llm = backend._llm
    prompt, _ = backend.format_prompt(request)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    reply = llm.tokenize(text.encode(), add_bos=False, special=False)
    llm.reset()
    llm.eval(tokens)
    sampler = backend._token_sampler(request)
    sampler.remember(tokens)
    try:
        started = time.perf_counter()
        for token in reply:
            sampler.sample()
            sampler.accept(token)
            llm.eval([token])
        seconds = (time.perf_counter() - started) / max(1, len(reply))
        return seconds, sampler.grammar_rejections
    finally:
        sampler.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=200)
    args = parser.parse_args()
    backend = LlamaCppBackend(embedded_model_path(), n_ctx=8192, kv_checkpoints=False)
    built, keys = build_prompts()
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores)")
    print("prompt tokens per call type (mid-run state, 10 passages):")
    for name, text in built.items():
        print(f"  {name:12s} {backend.count_tokens(text):6d}")

    limits = RunConfig().grammar_limits("en")
    variants = {
        "none": (None, app_path),
        "before (old grammar, old sampler)": (legacy_write_grammar(keys), old_path),
        "after (Markdown grammar)": (grammars.write_grammar(keys, limits), app_path),
        "after, old sampler": (grammars.write_grammar(keys, limits), old_path),
    }
    base = ChatRequest.user(built["write"], max_tokens=args.max_tokens, temperature=0.0, seed=1)
    figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (grammar, path) in variants.items():
            figures[name].append(path(backend, replace(base, grammar=grammar)))
    none_first = statistics.median(f[0] for f in figures["none"])
    none_token = statistics.median(f[1] for f in figures["none"])
    print(f"\nwrite prompt, greedy, <= {args.max_tokens} tokens, median of {args.repeats}:")
    print(
        f"  {'variant':36s} {'first s':>8s} {'ms/token':>9s} {'tokens':>7s} {'first x':>8s} "
        f"{'token x':>8s}"
    )
    for name, runs in figures.items():
        first = statistics.median(f[0] for f in runs)
        token = statistics.median(f[1] for f in runs)
        n = statistics.median(f[2] for f in runs)
        print(
            f"  {name:36s} {first:8.2f} {token * 1000:9.1f} {n:7.0f} "
            f"{first / none_first:8.2f} {token / none_token:8.2f}"
        )

    markdown = replace(base, grammar=grammars.write_grammar(keys, limits))
    reply = backend.chat(markdown).text
    body = reply.split("<action>", 1)[-1]
    forced: dict[str, list[float]] = {"none": [], "after": []}
    refused = 0
    for _ in range(args.repeats):
        forced["none"].append(forced_seconds_per_token(backend, base, reply)[0])
        seconds, refused = forced_seconds_per_token(backend, markdown, reply)
        forced["after"].append(seconds)
    none_ms = statistics.median(forced["none"]) * 1000
    after_ms = statistics.median(forced["after"]) * 1000
    print(
        f"\nsame {len(body)} characters decoded with and without the Markdown grammar, same "
        f"sampler: {none_ms:.1f} vs {after_ms:.1f} ms/token ({after_ms / none_ms:.2f}x); "
        f"the grammar refused the sampled token {refused} times"
    )

    probe = GrammarProbe(backend._llm)
    text = (ROOT / "tests/llm/grammar_corpus/accept/04-heat-pump-vs-boiler.md").read_text()
    reply = f"<thought>Compare the costs.</thought>\n<action>{text.strip()}</action>"
    corpus_keys = [f"textid{i}" for i in range(1, 11)]
    print("\nllama.cpp grammar engine on the same text (a corpus section, like for like):")
    for name, grammar in [
        ("old grammar", legacy_write_grammar(corpus_keys)),
        ("Markdown grammar", grammars.write_grammar(corpus_keys, limits)),
    ]:
        started = time.perf_counter()
        checked = probe.check(grammar, reply)
        single = (time.perf_counter() - started) / max(1, checked.tokens)
        masked = probe.check(grammar, reply, time_full_vocab=True)
        print(
            f"  {name:18s} admits it: {str(checked.accepted):5s}  one-token check "
            f"{single * 1000:.3f} ms/token, full-vocabulary mask "
            f"{masked.apply_seconds / max(1, masked.tokens) * 1000:.1f} ms/token "
            f"(until refused: {masked.tokens} tokens)"
        )
    backend.close()


if __name__ == "__main__":
    main()
