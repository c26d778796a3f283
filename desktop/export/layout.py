"""The order every document format lays a report out in (DOCX and PDF share it).

`ReportLayout.build` is the one sequence: title block, contents, the sections, references and,
when asked for, the "Citation check" appendix. A writer fills in each part in its own format;
the appendix is composed here from three primitives every writer has (a level-1 heading, a
paragraph of body text, a table).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from desktop.core.report import Report, ReportSection
from desktop.export.blocks import Table, check_table
from desktop.export.common import check_summary, labels

log = logging.getLogger(__name__)


class ReportLayout(ABC):
    """One report being laid out; subclasses write each part in their format."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.text = labels(report)

    def build(self) -> None:
        log.debug("laying out %r as %s", self.report.title, type(self).__name__)
        self._title_block()
        self._contents()
        for section in self.report.sections:
            self._section(section)
        self._references()
        if self.report.check_appendix and self.report.claims:
            self._check_appendix()

    def _check_appendix(self) -> None:
        self._appendix_heading(self.text["check"], "citation_check")
        self._body_paragraph(self.text["check_intro"].format(summary=check_summary(self.report)))
        self._table(check_table(self.report))

    @abstractmethod
    def _title_block(self) -> None: ...

    @abstractmethod
    def _contents(self) -> None: ...

    @abstractmethod
    def _section(self, section: ReportSection) -> None: ...

    @abstractmethod
    def _references(self) -> None: ...

    @abstractmethod
    def _appendix_heading(self, text: str, anchor: str) -> None:
        """A level-1 heading after the references, reachable as `anchor` where links exist."""

    @abstractmethod
    def _body_paragraph(self, text: str) -> None: ...

    @abstractmethod
    def _table(self, block: Table) -> None: ...
