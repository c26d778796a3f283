"""How well the citation check separates true claims from mutated ones, on real manuals.

Reads the labelled claims (bench/data/verify_claims.jsonl, see bench/verify_claims.py), finds
each claim's passage in the manuals (fetched by scripts/fetch_manuals.sh unless --root is
given), builds the mutations and prints, per mutation kind: the share flagged (verdict other
than `supported`), and the ROC AUC of the support score (true claims vs that kind); and the
share of true claims wrongly flagged. Three rows of modes: words/numbers/polarity only, plus
the library's embedder, plus the model judge (the embedded SmolLM2-135M through llama.cpp, on
a subsample: it tests the judge's plumbing, it is not a capable judge).

`--calibrate` prints the thresholds the calibration half (even claim numbers) suggests: the
supported threshold keeps 5% of true claims under it; the figures below it are on the other
half (odd numbers) and on all claims. The machine's load is printed beside the timings.

    python bench/bench_verify.py [--root DIR] [--no-embed] [--calibrate]
                                 [--judge N [--judge-model GGUF] [--threads T]]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from verify_claims import (  # noqa: E402
    change_number,
    load_passages,
    locate,
    manuals_root,
    negate,
    read_claims,
)

from desktop.core import verify  # noqa: E402
from desktop.core.evidence import Passage  # noqa: E402

KINDS = ("true", "swap_doc", "swap_doc_near", "swap_other", "number", "negation")


@dataclass(frozen=True, slots=True)
class Case:
    claim_id: int
    kind: str
    text: str
    passage: str


def build_cases(claims, passages) -> list[Case]:
    """The true claims and every mutation of each (deterministic)."""
    from verify_claims import content_overlap

    cases = []
    docs = sorted(passages)
    for number, claim in enumerate(claims):
        own = locate(claim, passages)
        rng = random.Random(claim["id"])
        text = claim["claim"]
        cases.append(Case(number, "true", text, own.text))
        same_doc = [p for p in passages[claim["doc"]] if abs(p.page - own.page) >= 3]
        if same_doc:
            cases.append(Case(number, "swap_doc", text, rng.choice(same_doc).text))
            nearest = max(same_doc, key=lambda p: content_overlap(text, p.text))
            cases.append(Case(number, "swap_doc_near", text, nearest.text))
        other_doc = rng.choice([d for d in docs if d != claim["doc"]])
        cases.append(Case(number, "swap_other", text, rng.choice(passages[other_doc]).text))
        changed = change_number(text, own.text, number)
        if changed:
            cases.append(Case(number, "number", changed, own.text))
        cases.append(Case(number, "negation", negate(text), own.text))
    return cases


def score_cases(cases, verifier) -> list[verify.ClaimCheck]:
    out = []
    for case in cases:
        claim = verify.Claim(0, case.text, ("k1",))
        check, _ = verifier.check_claim(claim, {"k1": Passage(case.passage, "bench")})
        out.append(check)
    return out


def prime(similarity, cases, lexical) -> None:
    """Embed every claim and evidence span in one batch (one call per case is far slower)."""
    claims = sorted({case.text for case in cases})
    spans = sorted({check.evidence for check in lexical if check.evidence} - set(claims))
    vectors = similarity.embedder.embed(claims + spans)
    similarity.cache_size = len(vectors) + 1
    for text, vector in zip(claims + spans, vectors, strict=True):
        similarity._cache[text] = vector


def auc(positives: list[float], negatives: list[float]) -> float:
    """ROC AUC: the chance a true claim scores above a mutated one (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    ranked = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average = (i + j + 1) / 2
        rank_sum += average * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def report(title: str, cases, checks, subset=None) -> None:
    rows = [(c, k) for c, k in zip(cases, checks, strict=True) if subset is None or subset(c)]
    by_kind: dict[str, list[verify.ClaimCheck]] = {kind: [] for kind in KINDS}
    for case, check in rows:
        by_kind[case.kind].append(check)
    true_scores = [c.score for c in by_kind["true"]]
    wrongly = sum(c.flagged for c in by_kind["true"]) / max(1, len(by_kind["true"]))
    print(
        f"\n{title}: {len(by_kind['true'])} true claims, true claims wrongly flagged {wrongly:.1%}"
    )
    print(f"  {'mutation':<14} {'n':>4} {'flagged':>8} {'AUC':>6}")
    for kind in KINDS[1:]:
        checks_k = by_kind[kind]
        if not checks_k:
            continue
        flagged = sum(c.flagged for c in checks_k) / len(checks_k)
        value = auc(true_scores, [c.score for c in checks_k])
        print(f"  {kind:<14} {len(checks_k):>4} {flagged:>8.1%} {value:>6.3f}")


HARD = ("number ", "negation differs")  # the reasons that flag a claim whatever its score
MAX_FALSE_FLAGS = 0.025  # on the calibration half: two standard errors under the 5% target


def calibrate(cases, checks) -> tuple[float, float]:
    """Thresholds from the calibration half (even claim numbers): `supported` is the highest
    score threshold that flags at most 2.5% of true claims (hard failures included), `partial`
    the 95th percentile of swapped citations' scores (below it a claim is `unsupported`)."""
    half = [(c, k) for c, k in zip(cases, checks, strict=True) if c.claim_id % 2 == 0]
    true = [k for c, k in half if c.kind == "true"]
    hard = [any(r.startswith(HARD) for r in k.reasons) for k in true]
    best = 0.0
    for t in sorted({round(k.score, 3) for k in true}):
        flagged = sum(1 for k, h in zip(true, hard, strict=True) if h or k.score < t)
        if flagged / len(true) <= MAX_FALSE_FLAGS:
            best = t
    swapped = sorted(k.score for c, k in half if c.kind in ("swap_doc", "swap_other"))
    partial = swapped[int(0.95 * (len(swapped) - 1))]
    print(
        f"\ncalibration half: {len(true)} true claims → supported threshold {best:.3f} "
        f"(at most {MAX_FALSE_FLAGS:.1%} of true claims flagged), partial threshold "
        f"{partial:.3f} (95th percentile of swapped citations)"
    )
    return best, min(partial, best)


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="directory holding usr/share/doc (default: fetch)")
    parser.add_argument("--no-embed", action="store_true", help="skip the embedder row")
    parser.add_argument("--judge", type=int, default=0, metavar="N", help="judge N claims")
    parser.add_argument(
        "--judge-model", metavar="GGUF", help="the judge's model (default: the embedded one)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads for the judge (default: all)"
    )
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    claims = read_claims()
    passages = load_passages(manuals_root(args.root))
    cases = build_cases(claims, passages)
    print(f"{len(claims)} claims from {len(passages)} manuals, {len(cases)} cases; load: {load()}")

    started = time.perf_counter()
    lexical = score_cases(cases, verify.SectionVerifier())
    print(f"words/numbers/polarity: {time.perf_counter() - started:.1f} s")
    if args.calibrate:
        calibrate(cases, lexical)
    report("words, numbers, polarity (all claims)", cases, lexical)
    report("words, numbers, polarity (test half)", cases, lexical, lambda c: c.claim_id % 2 == 1)

    if not args.no_embed:
        from desktop.knowledge.claim_similarity import EmbeddingSimilarity
        from desktop.knowledge.embedder import default_embedder

        similarity = EmbeddingSimilarity(default_embedder())
        started = time.perf_counter()
        prime(similarity, cases, lexical)
        embedded = score_cases(cases, verify.SectionVerifier(similarity=similarity))
        print(f"\nwith the embedder: {time.perf_counter() - started:.1f} s; load: {load()}")
        if args.calibrate:
            calibrate(cases, embedded)
        report("+ embedding similarity (all claims)", cases, embedded)
        report("+ embedding similarity (test half)", cases, embedded, lambda c: c.claim_id % 2 == 1)

    band_share(cases, lexical)
    if args.judge:
        run_judge(cases, args.judge, args.judge_model, args.threads)


def band_share(cases, checks) -> None:
    """How many claims the judge would be asked about in a run (scores inside JUDGE_BAND):
    the number of calls a larger model's judge costs per 100 claims."""
    low, high = verify.JUDGE_BAND
    print(f"\njudge band {low:.2f}..{high:.2f} (lexical score): share of cases the judge is asked")
    for kind in KINDS:
        scores = [k.score for c, k in zip(cases, checks, strict=True) if c.kind == kind]
        inside = sum(1 for x in scores if low <= x < high) / max(1, len(scores))
        print(f"  {kind:<14} {inside:>6.1%}")


def run_judge(cases, limit: int, model: str | None, threads: int | None) -> None:
    """The model judge on the first `limit` claims' cases (all kinds): the embedded model, or
    the GGUF given (a model of 3 B parameters or more is what the app would ask)."""
    from desktop.llm.llamacpp import LlamaCppBackend
    from desktop.llm.models import embedded_model_path

    backend = LlamaCppBackend(
        Path(model) if model else embedded_model_path(), n_ctx=2048, n_threads=threads
    )
    subset = [c for c in cases if c.claim_id < limit]
    budget = verify.JudgeBudget(remaining=10**6, per_section=10**6)
    verifier = verify.SectionVerifier(
        judge=verify.model_judge(backend),
        budget=budget,
        thresholds=verify.Thresholds(judge_band=(0.0, 1.01)),  # ask about every claim
    )
    started = time.perf_counter()
    checks = score_cases(subset, verifier)
    seconds = time.perf_counter() - started
    asked = sum(1 for c in checks if c.judged)
    yes = sum(1 for c in checks if c.judged == "yes")
    print(
        f"\nmodel judge ({backend.model_id}): {asked} calls in {seconds:.1f} s "
        f"({seconds / max(1, asked):.2f} s each), {yes} yes; load: {load()}"
    )
    for kind in KINDS:
        judged = [c for case, c in zip(subset, checks, strict=True) if case.kind == kind]
        if judged:
            share = sum(c.judged == "yes" for c in judged) / len(judged)
            print(f"  {kind:<14} judged yes {share:.0%} of {len(judged)}")
    report("+ model judge on every claim (subset)", subset, checks)
    backend.close()


if __name__ == "__main__":
    main()
