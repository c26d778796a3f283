"""Run journals: one SQLite file per run with committed steps, edits and an LLM-call cache."""
