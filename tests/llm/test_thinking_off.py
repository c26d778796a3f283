"""Thinking is off through the chat template, as AgentCPM-Report was run."""

from __future__ import annotations

from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from desktop.core.chat import ChatRequest
from desktop.llm.llamacpp import LlamaCppBackend

# The relevant part of a hybrid-reasoning ChatML template (MiniCPM4.1 / Qwen3 style).
HYBRID_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)


def backend_with(template: str) -> LlamaCppBackend:
    backend = LlamaCppBackend.__new__(LlamaCppBackend)  # no model: only the formatter is used
    backend._formatter = Jinja2ChatFormatter(
        template=template, eos_token="<|im_end|>", bos_token=""
    )
    return backend


def test_hybrid_template_opens_the_answer_with_an_empty_think_block():
    prompt, stops = backend_with(HYBRID_TEMPLATE).format_prompt(ChatRequest.user("Plan it."))
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert "<|im_end|>" in stops


def test_a_template_without_thinking_is_unchanged():
    plain = HYBRID_TEMPLATE.replace("enable_thinking is defined", "false")
    prompt, _ = backend_with(plain).format_prompt(ChatRequest.user("Plan it."))
    assert prompt.endswith("<|im_start|>assistant\n")
