"""Tests for desktop.knowledge: formats, chunking, the library, ingestion and retrieval."""
