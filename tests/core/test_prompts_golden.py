"""Golden tests: each of the four prompts, for fixed states, matches its expected file.

The expected files under golden_prompts/ follow warp.md's trained layout (section markers,
`# Section-1 [Name]: [OK] …` outline lines with four-space indents, `bibkey:textidN` passages,
placeholder-only examples). Regenerate them deliberately with
`DRAFTWELL_UPDATE_GOLDEN=1 pytest tests/core/test_prompts_golden.py` and review the diff.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.core import prompts
from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.outline import Outline

GOLDEN = Path(__file__).parent / "golden_prompts"
QUESTION_EN = "How do R's linear models handle factors, and how should results be reported?"
QUESTION_ZH = "LinuxCNC 如何配置步进电机的速度和加速度参数？"


def registry(texts: list[str]) -> tuple[EvidenceRegistry, list[str]]:
    passages = [
        Passage(text=t, source=f"/docs/manual-{i}.pdf", page=i + 3, chunk_id=f"c{i}")
        for i, t in enumerate(texts)
    ]
    return EvidenceRegistry().with_passages(passages)


EN_PASSAGES = [
    "Factors are stored as integer codes with a levels attribute.\nThe first level is the "
    "reference category in treatment contrasts.",
    "The function lm() fits linear models; summary() reports coefficients, standard errors "
    "and p-values.",
    "contrasts(f) <- contr.sum changes the coding so that coefficients sum to zero.",
]
ZH_PASSAGES = [
    "在 INI 文件的 [AXIS_0] 段中，MAX_VELOCITY 设定该轴的最大速度，单位为机器单位每秒。",
    "MAX_ACCELERATION 设定最大加速度；步进驱动器的 STEPGEN_MAXACCEL 应略大于该值。",
]


def mid_run_outline() -> Outline:
    """Three sections: the first written, the second locked (unwritten) with a written child
    plan, the third unwritten: the cursor is section-3."""
    outline = Outline.initial(
        "Factors in R linear models",
        [
            ("How R codes factors", "Integer codes, levels, the reference level."),
            ("Contrasts", "Treatment versus sum contrasts and what coefficients mean."),
            ("Reporting results", "What to report from summary() and anova()."),
        ],
    )
    s1, s2, _ = (s.id for s in outline.sections)
    long_text = (
        "R stores a factor as integer codes plus a levels attribute \\cite{textid1}. "
        + "The first level becomes the reference category, so every coefficient compares a "
        "level with it. "
        * 12
        + "Changing the reference with relevel() changes the coefficients but not the fit."
    )
    outline = outline.with_content(s1, long_text)
    outline = outline.expanded(s2, [("Sum contrasts", "contr.sum and its interpretation.")])
    outline = outline.updated(s2, lambda s: replace(s, locked=True))
    return outline


def zh_written_outline() -> Outline:
    """A Chinese outline with both sections written and the second locked (so only
    section-1 may be expanded)."""
    outline = Outline.initial(
        "LinuxCNC 步进电机参数",
        [("速度参数", "MAX_VELOCITY 的含义"), ("加速度参数", "MAX_ACCELERATION 与步进发生器")],
    )
    s1, s2 = (s.id for s in outline.sections)
    outline = outline.with_content(s1, "MAX_VELOCITY 以机器单位每秒计 \\cite{textid1}。")
    outline = outline.with_content(
        s2, "STEPGEN_MAXACCEL 应略大于 MAX_ACCELERATION \\cite{textid2}。"
    )
    return outline.updated(s2, lambda s: replace(s, locked=True))


def cases() -> dict[str, str]:
    reg, keys = registry(EN_PASSAGES)
    zh_reg, zh_keys = registry(ZH_PASSAGES)
    outline = mid_run_outline()
    zh_outline = Outline.initial("LinuxCNC 步进电机参数", [("速度参数", "MAX_VELOCITY 的含义")])
    tiny = prompts.Style(brief_thought=True)
    return {
        "search-empty-en": prompts.search_prompt(QUESTION_EN, None, "outline", "en"),
        "init-plan-en": prompts.init_plan_prompt(QUESTION_EN, reg, keys, "en"),
        "search-mid-run-en": prompts.search_prompt(QUESTION_EN, outline, "section-3", "en"),
        "write-mid-run-en": prompts.write_prompt(QUESTION_EN, outline, reg, keys, "en"),
        "extend-plan-mid-run-en": prompts.extend_plan_prompt(
            QUESTION_EN,
            outline.with_content(outline.sections[2].id, "Report the estimates."),
            ["section-1", "section-3"],
            "en",
            forced=False,
        ),
        "extend-plan-forced-en": prompts.extend_plan_prompt(
            QUESTION_EN, outline, ["section-3"], "en", forced=True
        ),
        "search-empty-zh": prompts.search_prompt(QUESTION_ZH, None, "outline", "zh"),
        "write-zh": prompts.write_prompt(QUESTION_ZH, zh_outline, zh_reg, zh_keys, "zh"),
        "init-plan-zh": prompts.init_plan_prompt(QUESTION_ZH, zh_reg, zh_keys, "zh"),
        "extend-plan-zh": prompts.extend_plan_prompt(
            QUESTION_ZH, zh_written_outline(), ["section-1"], "zh", forced=False
        ),
        "search-empty-en-tiny": prompts.search_prompt(
            QUESTION_EN, None, "outline", "en", style=tiny
        ),
    }


@pytest.mark.parametrize("name", sorted(cases()))
def test_prompt_matches_golden_file(name):
    rendered = cases()[name]
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("DRAFTWELL_UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    diff = "\n".join(
        difflib.unified_diff(expected.splitlines(), rendered.splitlines(), "expected", "rendered")
    )
    assert rendered == expected, diff


def test_layout_markers_in_every_prompt():
    """The trained markers, independent of the golden files' wording."""
    rendered = cases()
    assert "** Current Article Outline **\nThere is no survey." in rendered["search-empty-en"]
    assert "** Analyst's Instruction **\nYou need to update outline" in rendered["search-empty-en"]
    write = rendered["write-mid-run-en"]
    assert "** Analyzer's Instruction **\nYou need to update section-3" in write
    assert (
        "\n# Title: Factors in R linear models\n# Section-1 [How R codes factors]: [OK] " in write
    )
    assert "\n    ## Section-2.1 [Sum contrasts]: [PLAN] contr.sum" in write
    assert "bibkey:textid1\nFactors are stored" in write
    for name, text in rendered.items():
        assert text.count("** Output Format **") == 1, name
        assert "<action>" in text and "Reply strictly" in text, name


def test_write_prompt_shows_its_branch_in_full_and_the_rest_abbreviated():
    outline = mid_run_outline()
    reg, keys = registry(EN_PASSAGES)
    top = prompts.write_prompt(QUESTION_EN, outline, reg, keys, "en")
    assert "not the fit." in top  # a top-level cursor shows every top-level section in full
    sub = outline.with_content(outline.sections[2].id, "Done.").updated(
        outline.sections[1].id, lambda s: replace(s, locked=False, content="Two kinds.")
    )
    inner = prompts.write_prompt(QUESTION_EN, sub, reg, keys, "en")
    assert "You need to update section-2.1" in inner
    repeated = "so every coefficient compares a level with it."
    assert top.count(repeated) == 12  # in full
    assert inner.count(repeated) < 6 and " ... " in inner  # section-1 is outside the branch
    search = prompts.search_prompt(QUESTION_EN, outline, "section-3", "en")
    assert " ... " in search and "not the fit." in search  # head and tail kept
