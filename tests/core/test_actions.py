"""Parsing and validating model replies (lenient wrapping, strict content, hard mode)."""

from dataclasses import replace

import pytest

from desktop.core.actions import (
    ActionError,
    ExtendPlan,
    Nop,
    Rules,
    action_text,
    parse_extend_plan,
    parse_init_plan,
    parse_search,
    parse_write,
    trim_to_sentence,
    without_partial_cite,
)
from tests.helpers import action


def test_think_is_stripped_and_search_parsed():
    reply = '<think>hmm {"name": "nop"}</think>' + action(
        {"name": "search", "keywords": ["a", " b  c", "a"]}
    )
    assert parse_search(reply, Rules()).keywords == ("a", "b c")


def test_search_without_tags_and_too_many_keywords():
    reply = 'Sure: {"name": "search", "keywords": ["1","2","3","4","5","6"]}'
    assert len(parse_search(reply, Rules()).keywords) == 5
    with pytest.raises(ActionError, match="at most 5"):
        parse_search(reply, Rules(hard_mode=True))
    with pytest.raises(ActionError):
        parse_search(action("not json"), Rules())


def test_hard_mode_chinese_keywords():
    reply = action({"name": "search", "keywords": ["middle class"]})
    with pytest.raises(ActionError, match="Chinese"):
        parse_search(reply, Rules(hard_mode=True, language="zh"))
    assert parse_search(
        action({"name": "search", "keywords": ["中产 GDP"]}), Rules(hard_mode=True, language="zh")
    )


def test_init_plan_counts_in_hard_mode():
    two = action({"name": "init-plan", "title": "T", "sections": [{"title": "a", "plan": "p"}] * 2})
    assert len(parse_init_plan(two, Rules()).sections) == 2
    with pytest.raises(ActionError, match="expected 3 to 12"):
        parse_init_plan(two, Rules(hard_mode=True))
    with pytest.raises(ActionError, match="title"):
        parse_init_plan(
            action({"name": "init-plan", "title": "", "sections": [{"title": "a", "plan": "p"}]}),
            Rules(),
        )


def test_titles_lose_dangling_punctuation():
    reply = action(
        {
            "name": "init-plan",
            "title": "The facts a reader needs first,",
            "sections": [
                {"title": "Costs and savings —", "plan": "p,"},
                {"title": "背景，", "plan": "q"},
            ],
        }
    )
    plan = parse_init_plan(reply, Rules())
    assert plan.title == "The facts a reader needs first"
    assert [title for title, _ in plan.sections] == ["Costs and savings", "背景"]
    assert plan.sections[0][1] == "p,"  # plans are prose; only titles are trimmed
    with pytest.raises(ActionError, match="no words"):
        parse_init_plan(
            action(
                {"name": "init-plan", "title": ", ;", "sections": [{"title": "a", "plan": "p"}]}
            ),
            Rules(),
        )


def test_write_drops_unknown_citations_and_strips_headings():
    rules = Rules(allowed_keys=frozenset({"textid1", "textid2"}), known_keys=frozenset({"textid5"}))
    w = parse_write(action("## Heading\nSolar is cheap \\cite{textid1, textid2}."), rules)
    assert w.text == "Solar is cheap \\cite{textid1, textid2}."
    w = parse_write(
        action("Old \\cite{textid5}. Invented \\cite{textid9}. Mixed \\cite{textid1, textid9}."),
        rules,
    )
    assert w.text == "Old \\cite{textid5}. Invented. Mixed \\cite{textid1}."
    assert w.dropped_keys == ("textid9",)
    with pytest.raises(ActionError, match="textid9"):  # hard mode: only the pack shown
        parse_write(action("Invented \\cite{textid9}. " * 5), replace(rules, hard_mode=True))
    with pytest.raises(ActionError, match="empty"):
        parse_write(action("   "), rules)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("背景', 证据与数据'},{", "背景"),
        ('Costs", "plan": "x"}]', "Costs"),
        ("<b>Bold</b> claims", "Bold claims"),
        ("The 'best', and the worst", "The 'best', and the worst"),
        ("[Link text](http://x.org) title", "Link text title"),
    ],
)
def test_titles_are_plain_text_without_json_or_tag_debris(raw, expected):
    reply = action({"name": "init-plan", "title": raw, "sections": [{"title": raw, "plan": raw}]})
    plan = parse_init_plan(reply, Rules())
    assert plan.title == expected and plan.sections[0][0] == expected


def test_a_title_or_keyword_that_copies_a_prompt_string_is_refused():
    copied = action(
        {
            "name": "init-plan",
            "title": "The init-plan action, as JSON",
            "sections": [{"title": "Costs", "plan": "What each costs."}],
        }
    )
    with pytest.raises(ActionError, match="no words"):
        parse_init_plan(copied, Rules())
    reply = action(
        {"name": "search", "keywords": ["keyword-1", "the search action, as JSON", "COP"]}
    )
    assert parse_search(reply, Rules()).keywords == ("COP",)


def test_a_keyword_without_a_letter_or_digit_is_dropped():
    reply = action({"name": "search", "keywords": ["),", "booktabs", "——", "数据"]})
    assert parse_search(reply, Rules()).keywords == ("booktabs", "数据")
    with pytest.raises(ActionError, match="no usable keyword"):
        parse_search(action({"name": "search", "keywords": ["),", "..."]}), Rules())


def test_headings_inside_lists_quotes_and_single_dash_underlines_are_caught():
    rules = Rules(allowed_keys=frozenset({"textid1"}))
    w = parse_write(action("Results\n-\nText \\cite{textid1}.\n\n- # Options\n> ## Quote"), rules)
    assert w.text == "Results\nText \\cite{textid1}.\n\n- Options\n> Quote"
    code = "```\n- # not a heading in code\n```"
    assert parse_write(action(f"Code \\cite{{textid1}}.\n\n{code}"), rules).text.endswith(code)
    for text in ("- # Options", "1. ## Step", "> # Summary", "Title\n-"):
        with pytest.raises(ActionError, match="headings"):
            parse_write(action(f"Fine \\cite{{textid1}}.\n{text}"), replace(rules, hard_mode=True))


def test_write_hard_mode_rules():
    rules = Rules(hard_mode=True, allowed_keys=frozenset({"textid1"}))
    long_en = "Solar power has become the cheapest source of new electricity in many markets"
    assert parse_write(action(f"{long_en} \\cite{{textid1}}."), rules)
    with pytest.raises(ActionError, match="too short"):
        parse_write(action("Short \\cite{textid1}."), rules)
    with pytest.raises(ActionError, match="cites nothing"):
        parse_write(action(long_en + "."), rules)
    many = " ".join(["Fact \\cite{textid1}."] * 13) + " " + long_en
    with pytest.raises(ActionError, match="at most 12"):
        parse_write(action(many), rules)
    zh_rules = Rules(hard_mode=True, language="zh", allowed_keys=frozenset({"textid1"}))
    with pytest.raises(ActionError, match="language"):
        parse_write(action(f"{long_en} \\cite{{textid1}}."), zh_rules)
    zh = "中国的中产阶层在过去二十年迅速扩大，其收入结构和消费习惯都发生了显著变化，值得深入研究和分析。"
    assert parse_write(action(zh + "\\cite{textid1}。"), zh_rules)


def test_cite_every_rule():
    rules = Rules(allowed_keys=frozenset({"textid1"}), cite_every=2)
    ok = "One. Two \\cite{textid1}. Three. Four \\cite{textid1}."
    assert parse_write(action(ok), rules)
    with pytest.raises(ActionError, match="without a citation"):
        parse_write(action("One. Two. Three \\cite{textid1}."), rules)


def test_cut_off_write_is_trimmed_to_last_sentence():
    rules = Rules(allowed_keys=frozenset({"textid1"}))
    reply = "<thought>x</thought><action>First claim \\cite{textid1}. Second claim that never"
    w = parse_write(reply, rules, cut_off=True)
    assert w.trimmed and w.text == "First claim \\cite{textid1}."
    with pytest.raises(ActionError, match="empty"):
        parse_write("<thought>x</thought><action>nothing finished", rules, cut_off=True)
    assert trim_to_sentence("A. B \\cite{textid1}. C") == "A. B \\cite{textid1}."


def test_extend_plan_positions_and_nop():
    rules = Rules(expandable=("section-2",))
    ok = action(
        {
            "name": "extend-plan",
            "position": "section-2",
            "subsections": [{"title": "x", "plan": "y"}],
        }
    )
    assert isinstance(parse_extend_plan(ok, rules), ExtendPlan)
    bad = ok.replace("section-2", "section-1")
    with pytest.raises(ActionError, match="cannot be expanded"):
        parse_extend_plan(bad, rules)
    assert isinstance(parse_extend_plan(action({"name": "nop"}), rules), Nop)
    with pytest.raises(ActionError, match="nop is not allowed"):
        parse_extend_plan(
            action({"name": "nop"}), Rules(expandable=("section-2",), allow_nop=False)
        )
    with pytest.raises(ActionError, match="expected 2 to 7"):
        parse_extend_plan(ok, Rules(hard_mode=True, expandable=("section-2",)))


def test_write_keeps_markdown_and_trims_a_cut_off_table_to_whole_rows():
    rules = Rules(allowed_keys=frozenset({"textid1"}))
    body = "| a | b |\n|---|---|\n| 1 | 2 \\cite{textid1} |\n| 3 | 4"
    w = parse_write("<thought>t</thought><action> " + body, rules, cut_off=True)
    assert w.trimmed and w.text == "| a | b |\n|---|---|\n| 1 | 2 \\cite{textid1} |"
    code = "Run it:\n\n```bash\n# a comment, not a heading\nmake test"
    w = parse_write(action(code), rules, cut_off=True)
    assert "# a comment" in w.text and w.text.endswith("```")


def test_titles_and_plans_are_plain_text_and_placeholders_are_refused():
    reply = action(
        {
            "name": "init-plan",
            "title": "[Tables](/_/) in **LaTeX**",
            "sections": [{"title": "背景'},{", "plan": "Use `booktabs`."}],
        }
    )
    plan = parse_init_plan(reply, Rules())
    assert plan.title == "Tables in LaTeX"
    assert plan.sections == (("背景", "Use booktabs."),)
    with pytest.raises(ActionError, match="no words"):
        parse_init_plan(
            action(
                {"name": "init-plan", "title": "...", "sections": [{"title": "a", "plan": "p"}]}
            ),
            Rules(),
        )
    with pytest.raises(ActionError, match="no usable keyword"):
        parse_search(action({"name": "search", "keywords": ["keyword-1", "keyword-2"]}), Rules())


def test_action_text_takes_the_body_without_partial_tags():
    assert action_text("<thought>x</thought>") == ""
    assert action_text("<thought>x</thought>\n<action>Heat pumps") == "Heat pumps"
    assert action_text("<action>Heat pumps move</act") == "Heat pumps move"
    assert action_text("<action>Done.</action>") == "Done."
    assert (
        without_partial_cite("Fact \\cite{textid2}. Partial \\cite{te")
        == "Fact \\cite{textid2}. Partial "
    )
