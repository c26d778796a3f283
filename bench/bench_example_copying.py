"""Over all of ../shared/data's questions (50 en + 50 zh), with the embedded model through real
llama.cpp: how many keywords and titles equal a string from a prompt example (target 0).

Usage: python bench/bench_example_copying.py [--per-language N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.example_copying import check, questions  # noqa: E402
from desktop.core.state import RunConfig  # noqa: E402
from desktop.llm.llamacpp import LlamaCppBackend  # noqa: E402
from desktop.llm.models import embedded_model_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=None)
    args = parser.parse_args()
    backend = LlamaCppBackend(embedded_model_path(), n_ctx=8192)
    started = time.perf_counter()
    result = check(backend, questions(args.per_language), RunConfig.for_small_model())
    print(
        f"questions {result.questions}, strings checked {result.strings}, "
        f"copied from an example {len(result.copied)}, no outline after 4 steps "
        f"{result.no_outline}, extend-plans that added subsections {result.extended} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    for question, copied in result.copied:
        print(f"  {copied!r} in: {question[:70]}")
    backend.close()


if __name__ == "__main__":
    main()
