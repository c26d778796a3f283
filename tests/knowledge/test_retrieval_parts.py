"""The pieces retrieval is built from: the embedder, the FTS query, rank fusion."""

from __future__ import annotations

import numpy as np

from desktop.knowledge.embedder import Embedder
from desktop.knowledge.retrieval import fts_query, reciprocal_rank_fusion


def test_embedder_returns_unit_vectors_in_batches(embedder: Embedder) -> None:
    vectors = embedder.embed(["a cat sat on the mat"] * 40 + ["quantum chromodynamics"])
    assert vectors.shape == (41, embedder.dimension) == (41, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    near = embedder.embed_query("a kitten on a rug") @ vectors[0]
    far = embedder.embed_query("a kitten on a rug") @ vectors[40]
    assert near > far


def test_fts_query_quotes_words_and_drops_stop_words() -> None:
    assert fts_query('How do I read a "CSV" file?') == '"read" OR "csv" OR "file"'
    assert fts_query("the of") == '"the" OR "of"'  # only stop words: keep them
    assert fts_query("   ") == ""
    assert fts_query("AND OR NOT NEAR(") == '"not" OR "near"'  # FTS5 syntax is neutralised


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "a"]], k=60)
    assert fused[:2] == ["a", "c"]
    assert set(fused) == {"a", "b", "c", "d"}
    weighted = reciprocal_rank_fusion([["a", "b"], ["b", "x"]], k=10, weights=(1.0, 0.25))
    assert weighted == ["b", "a", "x"]
