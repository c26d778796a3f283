"""The embedded model, through real llama.cpp, never returns a prompt example as its answer."""

from __future__ import annotations

from bench.example_copying import check, questions
from desktop.core.prompts import example_strings
from desktop.core.state import RunConfig


def test_examples_hold_only_placeholders():
    assert "keyword-1" in example_strings() and "..." in example_strings()
    assert not any(len(s) > 3 and s[0].isupper() for s in example_strings())  # no real title


def test_no_keyword_or_title_is_copied_from_an_example(llama_backend):
    result = check(llama_backend, questions(limit_per_language=1), RunConfig.for_small_model())
    assert result.questions == 2 and result.strings >= 4  # one English, one Chinese
    assert result.extended >= 1  # subsection titles were checked too
    assert result.copied == []
