"""Constants and an HTTP client for the end-to-end tests (imported by the tests and conftest)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envoy import ROOT, Envoy, free_port

REFERENCE_POLICY = ROOT / "policies" / "dashscope.guard"
E2E_POLICIES = Path(__file__).resolve().parent / "policies"
FAIL_OPEN_POLICY = E2E_POLICIES / "fail-open.guard"

# Recognisable values, so tests can prove where they went and that no log holds them.
SECRETS = {"dashscope_api_key": "sk-e2e-dashscope-7f3a9c51", "judge_api_key": "jk-e2e-judge-41b2d8e6"}
REFERENCE_JUDGE = "outbound|80||guard-llm.internal"
FAIL_OPEN_JUDGE = "outbound|80||guard-llm-lenient.internal"
DASHSCOPE = "dashscope.aliyuncs.com"
CHAT_PATH = "/compatible-mode/v1/chat/completions"


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    return free_port()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        return self.json()["error"]


def send(
    envoy: Envoy,
    body: bytes | None,
    host: str = DASHSCOPE,
    path: str = CHAT_PATH,
    method: str = "POST",
    headers: list[tuple[str, str]] | None = None,
    timeout: float = 20,
) -> Response:
    """One request, headers exactly as given (repeated names allowed), on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", host)
        all_headers = list(headers or [])
        if body is not None and not any(k.lower() == "content-type" for k, _ in all_headers):
            all_headers.append(("content-type", "application/json"))
        for name, value in all_headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def chat_body(*messages: tuple[str, str] | str, **extra: Any) -> bytes:
    """A chat-completions body; a bare string is a user message."""
    turns = [{"role": "user", "content": m} if isinstance(m, str) else {"role": m[0], "content": m[1]} for m in messages]
    return json.dumps({"model": "qwen-turbo", "messages": turns, **extra}, ensure_ascii=False).encode()


def chat(envoy: Envoy, *messages: tuple[str, str] | str, **kwargs: Any) -> Response:
    return send(envoy, chat_body(*messages), **kwargs)


def header_values(request: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in request["headers"] if k == name]
