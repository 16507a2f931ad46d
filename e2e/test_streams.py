"""Streamed answers through Envoy: the mock upstream writes real SSE event by event (each its
own HTTP chunk, a pause between), and the guard scans each channel's text across events.

The Envoy runs the example policies (`policies/*.guard`), whose `keys-in-answers` rule denies a
cloud access key in any answer to OpenAI, Anthropic or DashScope. What is checked is the bytes
the client receives: a benign stream byte for byte, a stream with a key split across events cut
before any byte of the key, in the stream's own format; and what the official SDKs raise when
they consume such a stream.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import anthropic
import openai
import pytest

from envoy import ROOT, Envoy
from helpers import REFERENCE_JUDGE, send
from mocks import MockJudge

STREAMS = ROOT / "testdata" / "streams"
KEY_PIECES = ["Here is one: AK", "IAIOSF", "ODNN7EX", "AMPLE, keep it safe."]


@pytest.fixture(scope="module")
def stream_envoy(build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge) -> Envoy:
    plugin = build_plugin(*sorted((ROOT / "policies").glob("*.guard")))
    secrets = {
        "openai_api_key": "sk-e2e-openai-stream",
        "anthropic_api_key": "sk-e2e-anthropic-stream",
        "dashscope_api_key": "sk-e2e-dashscope-stream",
        "judge_api_key": "jk-e2e-judge-stream",
    }
    return start_envoy(plugin, {"secrets": secrets}, {REFERENCE_JUDGE: judge.port})


def events_of(stream: bytes) -> list[bytes]:
    out, rest = [], stream
    while rest:
        cut = rest.find(b"\n\n")
        if cut < 0:
            out.append(rest)
            break
        out.append(rest[: cut + 2])
        rest = rest[cut + 2 :]
    return out


def chat_stream(deltas: list[str]) -> bytes:
    chunks = [
        "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]}) + "\n\n"
        for d in deltas
    ]
    return ("".join(chunks) + "data: [DONE]\n\n").encode()


def anthropic_stream(deltas: list[str]) -> bytes:
    def event(name: str, data: dict) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    out = event("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}})
    out += event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    for d in deltas:
        out += event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}})
    out += event("content_block_stop", {"type": "content_block_stop", "index": 0})
    out += event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 5}})
    out += event("message_stop", {"type": "message_stop"})
    return out.encode()


def responses_stream(deltas: list[str]) -> bytes:
    def event(data: dict) -> str:
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"

    response = {"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress", "model": "gpt-4o", "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    out = event({"type": "response.created", "response": response, "sequence_number": 0})
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    out += event({"type": "response.output_item.added", "output_index": 0, "item": item, "sequence_number": 1})
    out += event({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}, "sequence_number": 2})
    for n, d in enumerate(deltas):
        out += event({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": d, "logprobs": [], "sequence_number": 3 + n})
    return out.encode()


def stream_through(envoy: Envoy, mock_upstream, stream: bytes, host: str, path: str, request: dict) -> tuple[int, bytes]:
    mock_upstream.next(status=200, content_type="text/event-stream", events=[e.hex() for e in events_of(stream)], delay=0.02)
    response = send(envoy, json.dumps(request).encode(), host=host, path=path)
    return response.status, response.body


CHAT = ("api.openai.com", "/v1/chat/completions", {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
MESSAGES = ("api.anthropic.com", "/v1/messages", {"model": "claude", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
RESPONSES = ("api.openai.com", "/v1/responses", {"model": "gpt-4o", "stream": True, "input": "hi"})


@pytest.mark.parametrize("name", ["openai-chat", "openai-chat-tool-call", "anthropic", "anthropic-tool-use", "responses"])
def test_a_benign_stream_arrives_byte_for_byte(stream_envoy, mock_upstream, name):
    stream = (STREAMS / f"{name}.sse").read_bytes()
    host, path, request = MESSAGES if name.startswith("anthropic") else (RESPONSES if name == "responses" else CHAT)
    status, body = stream_through(stream_envoy, mock_upstream, stream, host, path, request)
    assert status == 200
    assert body == stream


@pytest.mark.parametrize(
    ("form", "make", "where"),
    [("chat", chat_stream, CHAT), ("anthropic", anthropic_stream, MESSAGES), ("responses", responses_stream, RESPONSES)],
)
def test_a_key_split_across_events_is_cut_before_any_of_it_arrives(stream_envoy, mock_upstream, form, make, where):
    host, path, request = where
    status, body = stream_through(stream_envoy, mock_upstream, make(KEY_PIECES), host, path, request)
    assert status == 200, "a stream's head went out before its text"
    text = body.decode()
    for piece in ["AK\"", "IAIOSF", "ODNN7EX", "AMPLE"]:
        assert piece not in text, f"{form}: `{piece}` reached the client"
    assert "guard.answer_denied" in text
    for event in events_of(body):
        data = "\n".join(line[5:].lstrip() for line in event.decode().splitlines() if line.startswith("data:"))
        if data and data != "[DONE]":
            json.loads(data)


def test_the_openai_sdk_raises_guards_error_mid_stream(stream_envoy, mock_upstream):
    mock_upstream.next(status=200, content_type="text/event-stream", events=[e.hex() for e in events_of(chat_stream(["Sure. "] * 6 + KEY_PIECES))], delay=0.01)
    client = openai.OpenAI(api_key="sk-client", base_url=f"http://127.0.0.1:{stream_envoy.port}/v1", default_headers={"Host": "api.openai.com"}, timeout=20, max_retries=0)
    received = ""
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]):
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert raised.value.code == "guard.answer_denied"
    assert "cloud access key" in str(raised.value)
    assert "AK" not in received and received.startswith("Sure.")


def test_the_openai_sdk_raises_on_a_cut_responses_stream(stream_envoy, mock_upstream):
    mock_upstream.next(status=200, content_type="text/event-stream", events=[e.hex() for e in events_of(responses_stream(["Sure. "] * 6 + KEY_PIECES))], delay=0.01)
    client = openai.OpenAI(api_key="sk-client", base_url=f"http://127.0.0.1:{stream_envoy.port}/v1", default_headers={"Host": "api.openai.com"}, timeout=20, max_retries=0)
    with pytest.raises(openai.APIError) as raised:
        for _ in client.responses.create(model="gpt-4o", input="hi", stream=True):
            pass
    assert raised.value.code == "guard.answer_denied"


def test_the_anthropic_sdk_raises_guards_error_mid_stream(stream_envoy, mock_upstream):
    mock_upstream.next(status=200, content_type="text/event-stream", events=[e.hex() for e in events_of(anthropic_stream(["Sure. "] * 6 + KEY_PIECES))], delay=0.01)
    client = anthropic.Anthropic(api_key="sk-client", base_url=f"http://127.0.0.1:{stream_envoy.port}", default_headers={"Host": "api.anthropic.com"}, timeout=20, max_retries=0)
    received = ""
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as stream:
            for text in stream.text_stream:
                received += text
    assert "cloud access key" in str(raised.value)
    assert "AK" not in received and received.startswith("Sure.")


def test_a_placeholder_split_across_events_comes_back_as_the_number(stream_envoy, mock_upstream):
    stream = chat_stream(["Reminder: call [PHO", "NE_1] at noon. ", "(Not [phone_1], not [PHONE_2].)"])
    request = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "remind me to call 13812345678"}]}
    status, body = stream_through(stream_envoy, mock_upstream, stream, "api.openai.com", "/v1/chat/completions", request)
    assert status == 200
    (seen,) = mock_upstream.requests
    assert "13812345678" not in seen["body"] and "[PHONE_1]" in seen["body"]
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in body.decode().splitlines()
        if line.startswith("data: {")
    )
    assert text == "Reminder: call 13812345678 at noon. (Not [phone_1], not [PHONE_2].)"


def test_the_openai_sdk_reads_the_restored_stream(stream_envoy, mock_upstream):
    mock_upstream.next(status=200, content_type="text/event-stream", events=[e.hex() for e in events_of(chat_stream(["Calling [PHONE", "_1]", " now."]))], delay=0.01)
    client = openai.OpenAI(api_key="sk-client", base_url=f"http://127.0.0.1:{stream_envoy.port}/v1", default_headers={"Host": "api.openai.com"}, timeout=20, max_retries=0)
    chunks = client.chat.completions.create(model="gpt-4o", stream=True, messages=[{"role": "user", "content": "call 13912345678"}])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Calling 13912345678 now."


@pytest.fixture(scope="module")
def mask_answers_envoy(build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy]) -> Envoy:
    return start_envoy(build_plugin(ROOT / "e2e" / "policies" / "answer-masks.guard"), {"secrets": {}}, {})


def test_an_answer_mask_rewrites_a_split_address_in_the_stream(mask_answers_envoy, mock_upstream):
    stream = chat_stream(["Write to bob@ac", "me.com or to ", "eve@acme.com; bob@acme.com again."])
    status, body = stream_through(mask_answers_envoy, mock_upstream, stream, "llm.masks.test", "/v1/chat/completions", CHAT[2])
    assert status == 200
    assert b"acme.com" not in body
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in body.decode().splitlines()
        if line.startswith("data: {")
    )
    assert text == "Write to [EMAIL_1] or to [EMAIL_2]; [EMAIL_1] again."


def test_an_answer_mask_rewrites_a_whole_answer(mask_answers_envoy, mock_upstream):
    answer = {"choices": [{"message": {"role": "assistant", "content": "ask bob@acme.com"}}]}
    mock_upstream.next(status=200, content_type="application/json", body_hex=json.dumps(answer).encode().hex())
    response = send(mask_answers_envoy, json.dumps(CHAT[2]).encode(), host="llm.masks.test", path="/v1/chat/completions")
    assert response.status == 200
    assert json.loads(response.body)["choices"][0]["message"]["content"] == "ask [EMAIL_1]"
