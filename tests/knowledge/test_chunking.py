"""Chunks respect paragraphs and sentences, stay near their token target, overlap a little, map back."""

from __future__ import annotations

import random

from desktop.knowledge.chunking import (
    MAX_TOKENS,
    OVERLAP_TOKENS,
    ChunkBudget,
    Section,
    chunk_section,
)


def _sentence(rng: random.Random, words: int) -> str:
    vocab = [
        "river",
        "stone",
        "lamp",
        "orbit",
        "cedar",
        "violet",
        "meadow",
        "copper",
        "signal",
        "harbor",
        "quiet",
        "ember",
    ]
    return " ".join(rng.choice(vocab) for _ in range(words)).capitalize() + "."


def _text(seed: int = 7) -> str:
    rng = random.Random(seed)
    paragraphs = [
        " ".join(_sentence(rng, rng.randint(6, 28)) for _ in range(rng.randint(1, 14)))
        for _ in range(12)
    ]
    return "\n\n".join(paragraphs)


def _norm(text: str) -> str:
    return " ".join(text.split())


def test_chunks_stay_within_size_and_cover_the_text() -> None:
    text = _text()
    chunks = chunk_section(Section(text, page=4, heading="Results", offset=1000))
    assert len(chunks) > 3
    assert all(len(c.text.split()) <= MAX_TOKENS for c in chunks)
    assert all(c.page == 4 and c.heading == "Results" for c in chunks)
    covered = set()
    for chunk in chunks:
        start, end = chunk.start - 1000, chunk.end - 1000
        assert _norm(text[start:end]) == _norm(chunk.text)  # the span is exact
        covered.update(range(start, end))
    words_covered = sum(1 for i, ch in enumerate(text) if not ch.isspace() and i in covered)
    assert words_covered == sum(1 for ch in text if not ch.isspace())


def test_chunks_end_at_sentence_or_paragraph_boundaries() -> None:
    chunks = chunk_section(Section(_text(3)))
    assert all(c.text.rstrip().endswith(".") for c in chunks)
    assert all(c.text[0].isupper() for c in chunks)


def test_consecutive_chunks_overlap_by_a_few_sentences_at_most() -> None:
    rng = random.Random(1)
    one_paragraph = " ".join(_sentence(rng, 12) for _ in range(60))
    chunks = chunk_section(Section(one_paragraph))
    assert len(chunks) >= 4
    for before, after in zip(chunks, chunks[1:], strict=False):
        overlap = before.end - after.start
        assert overlap > 0  # inside one paragraph, context carries over
        assert len(one_paragraph[after.start : before.end].split()) <= OVERLAP_TOKENS


def test_short_paragraphs_are_kept_whole_and_together() -> None:
    text = "First idea here.\n\nSecond idea follows.\n\nThird idea ends it."
    (chunk,) = chunk_section(Section(text))
    assert chunk.text == text


def test_a_sentence_longer_than_a_chunk_is_cut_into_windows() -> None:
    text = " ".join(f"w{i}" for i in range(500))
    chunks = chunk_section(Section(text))
    assert len(chunks) >= 3
    assert all(len(c.text.split()) <= MAX_TOKENS for c in chunks)
    assert _norm(" ".join(c.text for c in chunks)).startswith("w0 w1")


def test_page_numbers_alone_are_not_chunks() -> None:
    assert chunk_section(Section("12\n\n— 13 —")) == []


def test_embed_text_carries_the_heading() -> None:
    (chunk,) = chunk_section(Section("Body text of the section.", heading="Methods"))
    assert chunk.embed_text == "Methods\nBody text of the section."


def test_with_the_models_tokenizer_chunks_are_packed_in_its_tokens() -> None:
    """Paragraphs are measured with the model's own count, not the estimate: chunks fill the
    model's input whether the estimate over- or under-counts the text (the estimate's
    over-count left a third of MiniLM's input unused on the English manuals)."""
    paragraphs = [" ".join(f"word{p}_{i}" for i in range(20)) + "." for p in range(60)]
    section = Section("\n\n".join(paragraphs), heading="Heading")  # estimate: ~41 a paragraph
    for per_word, per_chunk in ((1, 11), (3, 3)):  # the model reads 20 or 60 tokens a paragraph

        def count(text: str, per_word: int = per_word) -> int:
            return 2 + per_word * len(text.split())  # [CLS] and [SEP]

        chunks = chunk_section(section, ChunkBudget(256, count))
        sizes = [count(c.embed_text) for c in chunks]
        assert max(sizes) <= 256
        assert [len(c.text.split("\n\n")) for c in chunks[:-1]] == [per_chunk] * (len(chunks) - 1)
        assert min(sizes[:-1]) >= 180  # ~70 % or more of the input is used


def test_a_paragraph_ending_in_a_colon_opens_the_chunk_of_what_it_introduces() -> None:
    filler = " ".join(["alpha", "beta", "gamma", "delta", "epsilon"] * 10) + "."  # ~51 tokens
    intro = "To plot a data file as a bar graph:"
    example = " ".join(f"set style fill solid {i} plot file with boxes" for i in range(4))
    text = "\n\n".join([filler] * 4 + [intro, example, filler])
    chunks = chunk_section(Section(text))
    holding = [c for c in chunks if intro in c.text]
    assert len(holding) == 1 and example in holding[0].text
    assert holding[0].text.startswith(intro)  # not left dangling at the end of the chunk before
    assert chunks[0].text == "\n\n".join([filler] * 4)  # nothing is lost, nothing repeated
    # A colon that would leave the chunk before it empty of anything new stays where it is.
    alone = chunk_section(Section("\n\n".join([intro, example])))
    assert "\n\n".join(c.text for c in alone) == "\n\n".join([intro, example])
