"""What one verifying decode of k tokens costs, in single-token decodes, by model size.

Prompt-lookup drafting (desktop/llm/lookup_decoding.py) turns k single-token decodes into one
decode of a batch: it pays only where that batch costs less than k single decodes. This measures
the cost curve c(k)/c(1) on this machine, the same llama_decode call the drafter makes, after a
prompt of --context tokens, for:

- the embedded SmolLM2-135M (compute-bound on a CPU: the batch costs nearly k decodes), and
- with --synthetic, a llama.cpp model of the same architecture at the shape of an 8B model
  (Llama-3-8B's layers, SmolLM2's tokenizer) with random Q4_0 weights, built once in --cache.
  Its text is noise, but a decode's cost depends only on the shapes and the quantization, so
  it shows whether a CPU decode of an 8B model is memory-bound here.

It then combines the curve with drafting figures measured on real prompts
(`bench_lookup_decoding.py replay`: tokens per pass and drafted tokens per pass on writes) into
the write speed-up drafting would give at that size: tokens per pass / c(mean pass size).

    python bench/bench_verify_pass.py [--synthetic] [--threads 1] [--tokens-per-pass 3.02]
                                      [--batch-per-pass 3.7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCHES = (1, 2, 3, 4, 6, 8)
# Llama-3-8B's transformer (the vocabulary stays SmolLM2's 49,152 tokens).
SHAPE_8B = {"n_embd": 4096, "n_layer": 32, "n_ff": 14336, "n_head": 32, "n_head_kv": 8}


def synthetic_model(cache: Path, shape: dict) -> Path:
    """A llama GGUF of `shape` with random Q4_0 weights and the embedded model's tokenizer."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType as T
    from gguf import quants

    from desktop.llm.models import embedded_model_path

    name = "synthetic-{n_embd}x{n_layer}-q4_0.gguf".format(**shape)
    path = cache / name
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    source = gguf.GGUFReader(str(embedded_model_path()))
    writer = gguf.GGUFWriter(str(path) + ".part", "llama")
    _copy_tokenizer(source, writer)
    e, layers, ff = shape["n_embd"], shape["n_layer"], shape["n_ff"]
    heads, kv_heads = shape["n_head"], shape["n_head_kv"]
    head_dim = e // heads
    writer.add_name("synthetic 8B-shaped model (random weights)")
    writer.add_context_length(8192)
    writer.add_embedding_length(e)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(500000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    vocab = len(source.fields["tokenizer.ggml.tokens"].data)
    rng = np.random.default_rng(0)
    made: dict[tuple[int, int], np.ndarray] = {}  # one random matrix per shape: values do not
    # change what a decode costs, and building 8 B random numbers would take minutes

    def q4(rows: int, cols: int) -> np.ndarray:
        if (rows, cols) not in made:
            data = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
            made[(rows, cols)] = quants.quantize(data, T.Q4_0)
        return made[(rows, cols)]

    ones = np.ones(e, dtype=np.float32)
    writer.add_tensor("token_embd.weight", q4(vocab, e), raw_dtype=T.Q4_0)
    writer.add_tensor("output_norm.weight", ones)
    for i in range(layers):
        b = f"blk.{i}."
        writer.add_tensor(b + "attn_norm.weight", ones)
        writer.add_tensor(b + "ffn_norm.weight", ones)
        writer.add_tensor(b + "attn_q.weight", q4(e, e), raw_dtype=T.Q4_0)
        writer.add_tensor(b + "attn_k.weight", q4(kv_heads * head_dim, e), raw_dtype=T.Q4_0)
        writer.add_tensor(b + "attn_v.weight", q4(kv_heads * head_dim, e), raw_dtype=T.Q4_0)
        writer.add_tensor(b + "attn_output.weight", q4(e, e), raw_dtype=T.Q4_0)
        writer.add_tensor(b + "ffn_gate.weight", q4(ff, e), raw_dtype=T.Q4_0)
        writer.add_tensor(b + "ffn_up.weight", q4(ff, e), raw_dtype=T.Q4_0)
        writer.add_tensor(b + "ffn_down.weight", q4(e, ff), raw_dtype=T.Q4_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(str(path) + ".part", path)
    return path


def _copy_tokenizer(source, writer) -> None:
    import gguf

    fields = source.fields
    writer.add_tokenizer_model(fields["tokenizer.ggml.model"].contents())
    writer.add_tokenizer_pre(fields["tokenizer.ggml.pre"].contents())
    writer.add_token_list(fields["tokenizer.ggml.tokens"].contents())
    writer.add_token_types(fields["tokenizer.ggml.token_type"].contents())
    writer.add_token_merges(fields["tokenizer.ggml.merges"].contents())
    writer.add_bos_token_id(fields["tokenizer.ggml.bos_token_id"].contents())
    writer.add_eos_token_id(fields["tokenizer.ggml.eos_token_id"].contents())
    writer.add_add_bos_token(False)
    writer.add_chat_template(fields["tokenizer.chat_template"].contents())
    del gguf


def cost_curve(model: Path, threads: int, context: int, repeats: int) -> dict[int, float]:
    """Median seconds of one llama_decode of k tokens after a `context`-token prompt."""
    from llama_cpp import Llama

    from desktop.llm.lookup_decoding import _decode

    llm = Llama(str(model), n_ctx=context + 64, n_threads=threads, flash_attn=True, verbose=False)
    prompt = [(7 * i) % 40000 + 100 for i in range(context)]
    llm.eval(prompt)
    seconds: dict[int, float] = {}
    for k in BATCHES:
        trials = []
        for r in range(repeats):
            llm._ctx.kv_cache_seq_rm(-1, context, -1)
            started = time.perf_counter()
            _decode(llm, [101 + r + j for j in range(k)], context)
            trials.append(time.perf_counter() - started)
        seconds[k] = statistics.median(trials)
    llm.close()
    return seconds


def print_curve(label: str, seconds: dict[int, float]) -> dict[int, float]:
    one = seconds[1]
    ratios = {k: s / one for k, s in seconds.items()}
    cells = "  ".join(f"k={k}: {r:.2f}" for k, r in ratios.items())
    print(f"{label}: one token {one * 1000:.1f} ms; a batch of k costs  {cells}")
    return ratios


def speed_up(ratios: dict[int, float], tokens_per_pass: float, batch_per_pass: float) -> float:
    """Drafted over plain speed: tokens per pass over the cost of a pass of the mean size
    (interpolated on the measured curve)."""
    ks = sorted(ratios)
    for lo, hi in zip(ks, ks[1:], strict=False):
        if lo <= batch_per_pass <= hi:
            t = (batch_per_pass - lo) / (hi - lo)
            return tokens_per_pass / (ratios[lo] + t * (ratios[hi] - ratios[lo]))
    return tokens_per_pass / ratios[ks[-1]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="also the 8B-shaped model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cache", default="/tmp/draftwell-synthetic-models")
    parser.add_argument("--tokens-per-pass", type=float, default=3.02)
    parser.add_argument("--batch-per-pass", type=float, default=3.7)
    args = parser.parse_args()
    from desktop.llm.models import embedded_model_path

    print(
        f"load {os.getloadavg()[0]:.1f}; {args.threads} thread(s); {args.context}-token context; "
        f"writes: {args.tokens_per_pass} tokens and {args.batch_per_pass} decoded per pass"
    )
    models = [("SmolLM2-135M (embedded)", embedded_model_path())]
    if args.synthetic:
        started = time.perf_counter()
        path = synthetic_model(Path(args.cache), SHAPE_8B)
        size = path.stat().st_size / 1e9
        print(
            f"8B-shaped Q4_0 model: {path} ({size:.1f} GB, {time.perf_counter() - started:.0f} s)"
        )
        models.append(("8B-shaped Q4_0 (random weights)", path))
    for label, path in models:
        ratios = print_curve(label, cost_curve(path, args.threads, args.context, args.repeats))
        gain = speed_up(ratios, args.tokens_per_pass, args.batch_per_pass)
        print(f"  drafted writes would run at {gain:.2f}x the plain loop's speed")
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
