"""Chat backends: llama.cpp in-process, OpenAI-compatible HTTP, and a strict scripted fake."""
