"""The fixed report the export golden tests (and scripts/render_export_previews.sh) render.

It has three heading levels, an English and a Chinese section, a table, bullet and numbered
lists, a code block, a quote, emphasis, and twelve references cited in order of first use
(file pages, a file without pages, web pages with access dates, a Chinese file name).
"""

from __future__ import annotations

from dataclasses import replace

from desktop.core.evidence import Passage
from desktop.core.report import Reference, Report, ReportSection

_SOURCES: list[Passage] = [
    Passage("Heat pumps move heat.", "/home/ana/library/heat-pumps-2023.pdf", page=4),
    Passage("COP falls with temperature.", "/home/ana/library/heat-pumps-2023.pdf", page=17),
    Passage(
        "Field trial results.",
        "https://www.example.org/trials/field-2022",
        kind="web",
        title="Field trial of 742 domestic heat pumps",
        accessed="2025-02-11",
    ),
    Passage("Grid load study.", "/home/ana/library/grid_load_study.pdf", page=2),
    Passage("Installer survey.", "/home/ana/library/installer-survey.docx", locator="Results"),
    Passage("Refrigerant handbook.", "/home/ana/library/refrigerants.pdf", page=113),
    Passage("Sizing code.", "/home/ana/library/sizing-notes.md", locator="Sizing"),
    Passage("中国热泵市场。", "/home/ana/library/中国热泵市场报告.pdf", page=8),
    Passage("北方供暖。", "/home/ana/library/中国热泵市场报告.pdf", page=21),
    Passage(
        "Tariffs.",
        "https://energy.example.com/tariffs?year=2024&region=north",
        kind="web",
        title="Electricity tariffs 2024",
        accessed="2025-02-12",
    ),
    Passage("Noise limits.", "/home/ana/library/noise-regulation.pdf", page=5),
    Passage("Lifecycle.", "/home/ana/library/lifecycle-assessment.pdf", page=42),
]

REFERENCES = tuple(Reference(n, f"textid{n}", p) for n, p in enumerate(_SOURCES, start=1))

_BACKGROUND = (
    "Air-source heat pumps now heat a *large* share of new homes ⟦1⟧. Their efficiency, "
    "the **coefficient of performance** (`COP`), drops as the outdoor air gets colder ⟦2⟧, "
    "which field trials confirm at scale ⟦3⟧."
)
_PRIOR = (
    "Earlier work falls into three groups:\n\n"
    "- grid studies that model peak load ⟦4⟧;\n"
    "- installer surveys on sizing practice ⟦5⟧;\n"
    "- refrigerant comparisons, which rank:\n"
    "  1. propane (R290) first ⟦6⟧,\n"
    "  2. R32 second.\n\n"
    "Most of them assume a well-sized unit ⟦1,4⟧."
)
_MEASUREMENTS = (
    "The trial reports seasonal performance by climate zone ⟦3⟧:\n\n"
    "| Climate zone | Homes | Seasonal COP | Source |\n"
    "|:-------------|------:|-------------:|:-------|\n"
    "| Mild coastal | 312 | 3.4 | trial ⟦3⟧ |\n"
    "| Continental | 287 | 2.9 | trial ⟦3⟧ |\n"
    "| Alpine | 143 | **2.4** | handbook ⟦2⟧ |\n\n"
    "Colder zones lose about a third of the mild-zone figure."
)
_METHOD = (
    "Units were sized with the heat-loss rule below ⟦7⟧:\n\n"
    "```python\n"
    "def heat_pump_size(heat_loss_w: float, margin: float = 1.1) -> float:\n"
    '    """Return the rated output (kW) for a design heat loss in watts."""\n'
    "    return round(heat_loss_w * margin / 1000, 1)\n"
    "```\n\n"
    "Steps:\n\n"
    "1. measure the design heat loss;\n"
    "2. apply the margin;\n"
    "3. round to the next available size."
)
_CHINESE = (
    "中国是全球最大的热泵市场，**北方清洁取暖**政策推动了空气源热泵的快速普及⟦8⟧。"
    "在严寒地区，低温型机组的季节性能系数仍可达到 2.5 左右⟦9⟧，"
    "但电价结构决定了用户的实际运行成本⟦10⟧。\n\n"
    "- 政策补贴降低了初装成本⟦8⟧；\n"
    "- 噪声限值影响室外机的安装位置⟦11⟧。"
)
_DISCUSSION = (
    "> A heat pump is only as good as the house it heats.\n\n"
    "Across sources, the evidence agrees on three points ⟦10,11,12⟧: efficiency depends on "
    "climate, running cost depends on tariffs, and lifetime emissions fall well below gas "
    "boilers ⟦12⟧. See the [trial data](https://www.example.org/trials/field-2022) for details."
)


def sample_report(*, finished: bool = True) -> Report:
    """The golden report; `finished=False` also leaves section 3 unwritten."""
    method = ReportSection("1.2.1", 3, "Sizing method", _METHOD, True, (), "s4")
    sections = (
        ReportSection(
            "1",
            1,
            "Background",
            _BACKGROUND,
            True,
            (
                ReportSection("1.1", 2, "Prior work", _PRIOR, True, (), "s2"),
                ReportSection(
                    "1.2", 2, "Measured performance", _MEASUREMENTS, True, (method,), "s3"
                ),
            ),
            "s1",
        ),
        ReportSection(
            "2",
            1,
            "中国市场概况",
            _CHINESE,
            True,
            (
                ReportSection(
                    "2.1", 2, "政策与电价", "补贴与电价共同决定了回本周期⟦8,10⟧。", True, (), "s6"
                ),
            ),
            "s5",
        ),
        ReportSection("3", 1, "Discussion", _DISCUSSION, True, (), "s7"),
    )
    report = Report(
        title="Heat pumps in cold climates",
        question="How well do air-source heat pumps perform in cold climates, and at what cost?",
        created="2025-03-01",
        model="AgentCPM-Report-8B Q4_K_M",
        finished=True,
        language="en",
        sections=sections,
        references=REFERENCES,
    )
    if finished:
        return report
    unwritten = replace(sections[2], body="", written=False)
    return replace(report, finished=False, sections=(*sections[:2], unwritten))


def outline(report: Report) -> list[tuple[int, str]]:
    """The heading tree as (level, "number title") pairs in document order."""
    return [(s.level, f"{s.number} {s.title}") for s in report.walk()]
