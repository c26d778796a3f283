"""Fixtures for the export tests: the golden report rendered once per session in each format."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.report import Report
from desktop.export import export_report
from tests.export.sample_report import sample_report

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "export"


@pytest.fixture(scope="session")
def report() -> Report:
    return sample_report()


@pytest.fixture(scope="session")
def unfinished_report() -> Report:
    return sample_report(finished=False)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, report: Report) -> dict[str, Path]:
    """The sample report written once as md, docx and pdf (A4)."""
    folder = tmp_path_factory.mktemp("export")
    return {
        fmt: export_report(report, fmt, folder / f"sample.{fmt}") for fmt in ("md", "docx", "pdf")
    }
