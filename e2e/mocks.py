"""Mock HTTP servers for the end-to-end tests: an upstream LLM and a judge LLM.

Both listen on 127.0.0.1 only, on a port the OS picks, and record every request they receive.
They run in threads of the test process, but are controlled over HTTP like an outside service
would be (`/__mock/...`), so they can also be started by hand: `python e2e/mocks.py`.

Control endpoints (both servers):
  GET  /__mock/requests  -> {"requests": [...], "partial": [...], "heads": [...]}  what was
                            received: whole requests, heads whose body never came, and every
                            request head the moment it arrived (before any body byte is read)
  POST /__mock/reset     -> forget requests; the judge goes back to answering "allow"

Judge only:
  POST /__mock/next  {"mode": M, ...}   how to answer from now on. Modes:
      allow                       a chat completion whose content is {"result": "allow"}
      deny    "reason"            {"result": "deny", "reason": REASON}
      says    "text"              a chat completion whose message content is TEXT
      status  "status", "body"    that HTTP status and body
      garbage "body"              200 with BODY as the whole response
      timeout "delay"             answer "allow" only after DELAY seconds (default 10)
      close                       close the connection without answering
  Optional "rules": [{"contains": TEXT, "mode": M, ...}, ...]: the first rule whose TEXT occurs in
  the judge request's body decides instead; a deny reason may contain "{marker}", replaced by the
  first `req-<digits>` token of the request, so concurrent tests can tell answers apart.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MARKER = re.compile(r"req-\d+")


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "MockServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    def _read_body(self) -> bytes | None:
        """The request body, or None if the peer went away before sending all of it."""
        try:
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                body = b""
                while True:
                    size_line = self.rfile.readline()
                    if not size_line:
                        return None
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return body
                    chunk = self.rfile.read(size + 2)
                    if len(chunk) < size + 2:
                        return None
                    body += chunk[:size]
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            return body if len(body) == length else None
        except (OSError, ValueError):
            return None

    def _record(self) -> dict[str, Any] | None:
        headers = [(k.lower(), v) for k, v in self.headers.items()]
        entry = {"method": self.command, "path": self.path, "headers": headers}
        # Recorded before the body is read: a head that reached us counts even if its body is
        # never sent (a denial after the head went upstream).
        self.server.add_head(dict(entry))
        body = self._read_body()
        if body is None:
            # Headers arrived, the body did not (Envoy reset the stream): record it apart.
            self.server.add_partial(entry)
            self.close_connection = True
            return None
        entry["body"] = body.decode("utf-8", "replace")
        # The exact bytes too: compressed or non-UTF-8 bodies must compare byte for byte.
        entry["body_hex"] = body.hex()
        return entry

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller gave up (a timed-out judge call); nothing to do

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode())

    def _control(self) -> bool:
        if not self.path.startswith("/__mock/"):
            return False
        body = self._read_body() or b""
        if self.path == "/__mock/requests":
            self._json(200, self.server.snapshot())
        elif self.path == "/__mock/reset":
            self.server.reset()
            self._json(200, {"ok": True})
        elif self.path == "/__mock/next":
            self.server.configure(json.loads(body or b"{}"))
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": "unknown control endpoint"})
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._control():
            self.handle_request()

    def do_POST(self) -> None:  # noqa: N802
        if not self._control():
            self.handle_request()

    def handle_request(self) -> None:
        raise NotImplementedError


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[_Recorder]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.partial: list[dict[str, Any]] = []
        self.heads: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> "MockServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def add_head(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.heads.append(entry)

    def add_partial(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.partial.append(entry)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": list(self.requests), "partial": list(self.partial), "heads": list(self.heads)}

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.partial.clear()
            self.heads.clear()

    def configure(self, settings: dict[str, Any]) -> None:
        raise NotImplementedError("this mock has no modes")


def completion(content: str, ident: str = "chatcmpl-mock") -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion",
        "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class _UpstreamHandler(_Recorder):
    def handle_request(self) -> None:
        entry = self._record()
        if entry is None:
            return
        self.server.add(entry)
        answer = self.server.take_answer()
        if answer is not None:
            self._answer(answer)
            return
        # The answer names the client's x-test-id, so a test can tell its own answer apart.
        ident = self.headers.get("x-test-id", "none")
        content = "Hello from the mock upstream."
        if self.headers.get("x-test-echo"):
            # Echo the last message's text as it arrived, so a test sees what the model was
            # given come back (masked placeholders, and the answer's restoring).
            try:
                content = json.loads(entry["body"])["messages"][-1]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                content = ""
        self._json(200, completion(content, f"chatcmpl-{ident}"))


    def _answer(self, answer: dict[str, Any]) -> None:
        """A configured answer: a whole body, or a stream written event by event, each its own
        HTTP chunk after a pause, so the guard sees them arrive apart."""
        status = int(answer.get("status", 200))
        content_type = answer.get("content_type") or "application/json"
        try:
            if "events" in answer:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                delay = float(answer.get("delay", 0.02))
                for event in answer["events"]:
                    data = bytes.fromhex(event)
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                    time.sleep(delay)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            else:
                self._send(status, bytes.fromhex(answer.get("body_hex", "")), content_type)
        except OSError:
            pass  # the client (or the guard) went away mid-answer


class MockUpstream(MockServer):
    """The LLM behind the guard: records, then answers a canned chat completion, or the answer
    configured for the next request (`/__mock/next` with `status`, `content_type` and `body_hex`,
    or `events`: hex chunks of a stream written one by one, `delay` seconds apart)."""

    def __init__(self) -> None:
        super().__init__(_UpstreamHandler)
        self.answer: dict[str, Any] | None = None

    def configure(self, settings: dict[str, Any]) -> None:
        with self.lock:
            self.answer = settings

    def take_answer(self) -> dict[str, Any] | None:
        with self.lock:
            answer, self.answer = self.answer, None
            return answer

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.answer = None


class _JudgeHandler(_Recorder):
    def handle_request(self) -> None:
        entry = self._record()
        if entry is None:
            return
        self.server.add(entry)
        settings = self.server.decide(entry["body"])
        mode = settings.get("mode", "allow")
        marker = MARKER.search(entry["body"])
        if mode == "allow":
            self._json(200, completion(json.dumps({"result": "allow"})))
        elif mode == "deny":
            reason = str(settings.get("reason", "denied by the mock judge"))
            reason = reason.replace("{marker}", marker.group(0) if marker else "")
            self._json(200, completion(json.dumps({"result": "deny", "reason": reason})))
        elif mode == "says":
            self._json(200, completion(str(settings.get("text", ""))))
        elif mode == "status":
            self._send(int(settings.get("status", 500)), str(settings.get("body", "")).encode(), "text/plain")
        elif mode == "garbage":
            self._send(200, str(settings.get("body", "this is not a chat completion")).encode(), "text/plain")
        elif mode == "timeout":
            time.sleep(float(settings.get("delay", 10)))
            self._json(200, completion(json.dumps({"result": "allow"})))
        elif mode == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self._send(500, f"unknown mock mode {mode!r}".encode(), "text/plain")


class MockJudge(MockServer):
    """The judge LLM: records, then answers as configured through /__mock/next."""

    def __init__(self) -> None:
        super().__init__(_JudgeHandler)
        self.settings: dict[str, Any] = {"mode": "allow"}

    def configure(self, settings: dict[str, Any]) -> None:
        with self.lock:
            self.settings = dict(settings)

    def reset(self) -> None:
        super().reset()
        self.configure({"mode": "allow"})

    def decide(self, body: str) -> dict[str, Any]:
        with self.lock:
            settings = self.settings
        for rule in settings.get("rules", []):
            if rule.get("contains", "\0") in body:
                return rule
        return settings


if __name__ == "__main__":
    upstream, judge = MockUpstream().start(), MockJudge().start()
    print(f"mock upstream on 127.0.0.1:{upstream.port}, mock judge on 127.0.0.1:{judge.port}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
