"""The citation check on hand-made sections: every verdict, Markdown, numbers, polarity, judge."""

import pytest

from desktop.core import verify
from desktop.core.evidence import Passage
from desktop.core.verify import (
    PARTIAL,
    SUPPORTED,
    UNCITED,
    UNSUPPORTED,
    SectionVerifier,
    split_claims,
)

PASSAGES = {
    "textid1": Passage(
        "The boiler heats water to 60 degrees before it enters the tank. A thermostat "
        "switches the burner off when the tank is full.",
        "/docs/boiler.pdf",
        page=3,
    ),
    "textid2": Passage(
        "Heat pumps reach a seasonal coefficient of performance of 3.2 in mild climates. "
        "Heat pumps do not need a chimney or a fuel tank.",
        "/docs/heat-pumps.pdf",
        page=12,
    ),
    "textid3": Passage(
        "Glaciers in the Alps lost a third of their volume between 1980 and 2020.",
        "/docs/glaciers.pdf",
        page=1,
    ),
}


def check(text, verifier=None):
    return (verifier or SectionVerifier()).check_section(text, PASSAGES, section_id="s1")


def verdicts(text, verifier=None):
    return [c.verdict for c in check(text, verifier).claims]


def test_each_verdict_is_reachable():
    section = (
        "The boiler heats the water to 60 degrees before it goes into the tank \\cite{textid1}. "
        "Heat pumps reach a seasonal coefficient of performance of 3.9 in mild climates "
        "\\cite{textid2}. "
        "Glaciers in the Alps lost a third of their volume between 1980 and 2020 "
        "\\cite{textid1}. "
        "Solar panels on every roof would cover the whole demand of the region by 2040."
    )
    assert verdicts(section) == [SUPPORTED, PARTIAL, UNSUPPORTED, UNCITED]
    result = check(section)
    changed = result.claims[1]
    assert "number 3.9 not in the cited passage" in changed.reasons
    assert "3.2" in changed.evidence  # the span that matched best is shown
    assert result.claims[0].evidence_key == "textid1"
    assert (
        result.summary.label() == "4 claims · 25% supported · 1 partial · 1 uncited · 1 unsupported"
    )


def test_negation_against_the_passage_is_flagged():
    assert verdicts("Heat pumps need a chimney \\cite{textid2}.") == [PARTIAL]
    assert verdicts("Heat pumps do not need a chimney \\cite{textid2}.") == [SUPPORTED]


def test_a_claim_with_several_citations_is_checked_against_all_of_them():
    text = (
        "The boiler heats water to 60 degrees, and heat pumps reach a seasonal coefficient "
        "of performance of 3.2 in mild climates \\cite{textid1, textid2}."
    )
    result = check(text).claims
    assert [c.verdict for c in result] == [SUPPORTED]
    assert result[0].keys == ("textid1", "textid2")
    # the same sentence against one of its two passages lacks half of what it says
    assert verdicts(text.replace("textid1, textid2", "textid1")) != [SUPPORTED]


def test_unknown_keys_are_unsupported_not_an_error():
    result = check("The boiler heats water to 60 degrees \\cite{textid99}.").claims
    assert result[0].verdict == UNSUPPORTED
    assert result[0].reasons == ("cites no passage the run retrieved",)


def test_markdown_lists_tables_code_and_mid_sentence_citations():
    section = "\n".join(
        [
            "Two facts stand out:",
            "",
            "- the boiler heats **water** to 60 degrees \\cite{textid1} before the tank;",
            "- heat pumps need no `chimney` \\cite{textid2}.",
            "",
            "| Region | Loss |",
            "|---|---|",
            "| Alps | a third of the volume between 1980 and 2020 \\cite{textid3} |",
            "",
            "```python",
            "volume = 1980 * 3  # \\cite{textid3} inside code is not a claim",
            "```",
            "",
            "$$",
            "E = 3.2 Q",
            "$$",
            "",
            "As the data show \\cite{textid3}, glaciers in the Alps lost a third of their "
            "volume between 1980 and 2020.",
        ]
    )
    claims = split_claims(section)
    assert [c.keys for c in claims] == [("textid1",), ("textid2",), ("textid3",), ("textid3",)]
    assert claims[0].text == "the boiler heats water to 60 degrees before the tank;"
    assert claims[2].text.startswith("Alps; a third of the volume")
    assert verdicts(section)[:1] == [SUPPORTED]
    assert verdicts(section)[3] == SUPPORTED


def test_a_citation_after_the_full_stop_belongs_to_the_sentence_before():
    claims = split_claims(
        "The boiler heats water to 60 degrees. \\cite{textid1} Heat pumps need no chimney."
    )
    assert [c.keys for c in claims] == [("textid1",)]  # the second sentence is not factual


def test_short_connective_sentences_are_not_claims():
    assert split_claims("Two points stand out. What follows?") == []


def test_embedding_similarity_enters_the_score():
    high = SectionVerifier(similarity=lambda claim, spans: [0.95] * len(spans))
    low = SectionVerifier(similarity=lambda claim, spans: [0.0] * len(spans))
    text = "A thermostat turns the burner off once the tank is full \\cite{textid1}."
    assert check(text, high).claims[0].score > check(text, low).claims[0].score


def test_the_judge_is_asked_only_in_its_band_and_within_budget():
    asked = []

    def judge(claim, passage):
        asked.append((claim, passage))
        return False

    verifier = SectionVerifier(judge=judge, budget=verify.JudgeBudget(remaining=1))
    text = (
        "A thermostat in the tank decides when the burner stops \\cite{textid1}. "
        "The tank thermostat decides when the burner stops working \\cite{textid1}."
    )
    result = check(text, verifier)
    assert len(asked) == 1 and verifier.budget.remaining == 0  # budget of one
    assert result.judge_calls == 1
    assert result.claims[0].judged == "no" and result.claims[0].verdict == UNSUPPORTED
    assert "thermostat" in asked[0][1]  # the judge reads the cited passage
    assert result.claims[1].judged == ""


def test_parse_judgement():
    assert verify.parse_judgement("yes") is True
    assert verify.parse_judgement(" No.") is False
    assert verify.parse_judgement("maybe") is None


def test_revision_note_names_the_flagged_sentences():
    result = check(
        "Heat pumps reach a seasonal coefficient of performance of 3.9 in mild climates "
        "\\cite{textid2}. The boiler heats water to 60 degrees \\cite{textid1}."
    )
    request = verify.revision_request(result)
    note = verify.revision_note(request)
    assert "3.9 in mild climates" in note and "number 3.9 not in the cited passage" in note
    assert "60 degrees" not in note  # the supported sentence is not named
    assert verify.revision_note(None) == ""


def test_checks_round_trip_through_dicts():
    result = check("The boiler heats water to 60 degrees \\cite{textid1}.")
    assert verify.SectionCheck.from_dict(result.to_dict()) == result


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,000 users", {"1000"}), ("5 % of 2.50", {"5%", "5", "2.5"}), ("R 4.2.2", {"4.2.2"})],
)
def test_numbers_are_normalised(text, expected):
    assert verify.numbers(text) == expected
