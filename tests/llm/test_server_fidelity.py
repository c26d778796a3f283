"""What a strong model behind a server is sent, judged by its inputs.

A fake vLLM server on loopback records every request and answers each WARP phase like a
strong model would, as the JSON its response_format asks for. A whole run through the engine
must send the trained call settings (temperature 0.7, top_p 0.8, 2048 new tokens for plans
and writes, thinking off through chat_template_kwargs), use the JSON schema for every JSON
action, and turn the schema replies back into actions.
"""

from __future__ import annotations

import json
import re

from desktop.core.engine import Engine
from desktop.core.events import ListSink, RunFinished
from desktop.core.state import RunConfig, RunState
from desktop.llm.openai_http import OpenAICompatBackend, tagged_reply
from tests.helpers import MemoryRetriever, corpus
from tests.llm.test_openai_http import STUB, make_server


def strong_reply(body: dict) -> str:
    """What a strong model answers for the phase this prompt asks for."""
    prompt = body["messages"][0]["content"]
    if "You are the Searcher" in prompt:
        return json.dumps(
            {
                "thought": "Need wind data.",
                "action": {"name": "search", "keywords": ["wind capacity factor", "solar cost"]},
            }
        )
    if "** Latest Retrieved Information **" in prompt:
        return json.dumps(
            {
                "thought": "Two angles.",
                "action": {
                    "name": "init-plan",
                    "title": "Solar and wind compared",
                    "sections": [
                        {"title": "Costs", "plan": "Levelised costs."},
                        {"title": "Variability", "plan": "Capacity factors."},
                    ],
                },
            }
        )
    if "You are the Writer" in prompt:
        keys = re.findall(r"bibkey:(textid\d+)", prompt)
        return (
            f"<thought>Compare.</thought>\n<action>| source | cost |\n|---|---|\n"
            f"| solar | falling \\cite{{{keys[0]}}} |\n\nWind varies more "
            f"\\cite{{{keys[1]}, {keys[0]}}}.</action>"
        )
    return json.dumps({"thought": "Complete.", "action": {"name": "nop"}})


def test_a_run_through_a_vllm_server_gets_the_trained_settings_and_schemas(stub):
    def chat(rec, h):
        text = strong_reply(rec.json())
        STUB.send_sse(h, [STUB.chunk(text), STUB.chunk(None, "stop")])

    server = stub(make_server("vllm", chat))
    backend = OpenAICompatBackend(server.url, retries=0)
    sink = ListSink()
    engine = Engine(
        run_id="fidelity",
        state=RunState(question="How do solar and wind compare?", language="en"),
        config=RunConfig(max_step=20, max_extend=1),
        backend=backend,
        retriever=MemoryRetriever(corpus()),
        sink=sink,
    )
    try:
        state = engine.run()
    finally:
        backend.close()
    assert sink.of(RunFinished) and state.stop_reason == "nop"
    assert "| solar | falling" in state.outline.sections[0].content  # a table survives
    bodies = [r.json() for r in server.posts()]
    kinds = [b["messages"][0]["content"].split(" inside ")[0] for b in bodies]
    assert len(bodies) == 7, kinds  # search, plan, (search, write) x2, extend-plan
    for body in bodies:
        assert body["temperature"] == 0.7 and body["top_p"] == 0.8
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
        assert len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
        is_write = "You are the Writer" in body["messages"][0]["content"]
        assert ("response_format" in body) == (not is_write)
        if not is_write:
            schema = body["response_format"]["json_schema"]["schema"]
            assert schema["required"] == ["thought", "action"]
            assert schema["properties"]["thought"]["maxLength"] >= 2000
        if "Latest Retrieved" in body["messages"][0]["content"] or is_write:
            assert body["max_tokens"] >= 2048


def test_tagged_reply_keeps_anything_that_is_not_a_schema_reply():
    assert tagged_reply('{"thought": "t", "action": {"name": "nop"}}') == (
        '<thought>t</thought>\n<action>{"name": "nop"}</action>'
    )
    assert tagged_reply("<thought>x</thought><action>text</action>") == (
        "<thought>x</thought><action>text</action>"
    )
