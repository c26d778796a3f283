"""The citation check's model judge through the real llama.cpp with the embedded model.

SmolLM2-135M is no judge of entailment; this tests the plumbing: the grammar admits only
`yes` or `no`, each answer parses, the budget bounds the calls, and inside a real run with
`judge_claims` the judge's calls are made on the run's own model without costing WARP steps.
"""

from __future__ import annotations

import pytest

from desktop.core import verify
from desktop.core.chat import ChatRequest
from desktop.core.engine import Engine
from desktop.core.events import ListSink, SectionChecked
from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.outline import Outline
from desktop.core.state import RunConfig, RunState
from tests.helpers import MemoryRetriever

PASSAGE = (
    "The tank thermostat switches the burner off when the water reaches 60 degrees. "
    "The boiler then waits until the temperature falls by five degrees."
)


@pytest.fixture(scope="module")
def llm(embedded_gguf):
    from desktop.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(embedded_gguf, n_ctx=2048)
    yield backend
    backend.close()


def test_the_grammar_admits_only_yes_or_no(llm):
    judge = verify.model_judge(llm)
    claims = [
        "The burner stops when the water reaches 60 degrees.",
        "The burner never stops.",
        "Glaciers lost a third of their volume.",
    ]
    answers = [judge(claim, PASSAGE) for claim in claims]
    assert all(answer in (True, False) for answer in answers)
    raw = llm.chat(
        ChatRequest.user(
            verify.judge_prompt(claims[0], PASSAGE),
            max_tokens=4,
            temperature=1.0,
            seed=7,
            grammar=verify.JUDGE_GRAMMAR,
        )
    )
    assert raw.text in ("yes", "no")


def test_budget_bounds_the_calls_of_a_section(llm):
    calls = []

    def counting(claim, passage):
        calls.append(claim)
        return verify.model_judge(llm)(claim, passage)

    verifier = verify.SectionVerifier(
        judge=counting,
        budget=verify.JudgeBudget(remaining=2, per_section=5),
        thresholds=verify.Thresholds(judge_band=(0.0, 1.01)),
    )
    text = " ".join(
        f"The thermostat switches the burner off at 60 degrees, case {n} \\cite{{textid1}}."
        for n in range(4)
    )
    check = verifier.check_section(text, {"textid1": Passage(PASSAGE, "/d/boiler.pdf", 2)})
    assert len(calls) == 2 and check.judge_calls == 2
    assert [c.judged != "" for c in check.claims] == [True, True, False, False]


def test_a_run_on_llamacpp_calls_the_judge_without_spending_steps(llm):
    """One real write step (the run starts at the write, to keep the test short), its check
    with the judge on the same model, and the end of the run."""
    registry, keys = EvidenceRegistry().with_passages(
        [Passage(PASSAGE, "/d/boiler.pdf", page=2, chunk_id="c1")]
    )
    outline = Outline.initial("Boilers", [("Thermostat", "How the tank thermostat works")])
    state = RunState(
        question="How does the boiler thermostat work?",
        language="en",
        phase="write",
        outline=outline,
        registry=registry,
        pack=tuple(keys),
        pack_for="s1",
    )
    config = RunConfig.for_small_model(
        max_step=3, max_extend=0, judge_claims=True, judge_budget=3, max_tokens=160
    )
    sink = ListSink()
    engine = Engine(
        run_id="judge",
        state=state,
        config=config,
        backend=llm,
        retriever=MemoryRetriever([]),
        sink=sink,
        verifier=verify.SectionVerifier(thresholds=verify.Thresholds(judge_band=(0.0, 1.01))),
    )
    final = engine.run()
    assert final.step == 1 and final.done  # the judge's calls cost no step
    (event,) = sink.of(SectionChecked)
    check = event.check
    cited = [claim for claim in check.claims if claim.keys]
    assert cited, "the grammar makes the model cite, so there is a claim to check"
    judged = [claim for claim in check.claims if claim.judged]
    assert len(judged) == check.judge_calls == min(3, len(cited))
    assert all(claim.judged in ("yes", "no") for claim in judged)
    assert engine.verifier.budget.remaining == 3 - check.judge_calls
