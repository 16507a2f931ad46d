"""Protocol upgrades: a WebSocket handshake on a guarded host is refused with guard's JSON error
before any header is injected, though the listener allows WebSocket upgrades; the upstream sees
nothing. On a host no policy guards the upgrade is not the guard's business."""

from __future__ import annotations

import socket
import time

from helpers import DASHSCOPE, SECRETS, header_values, send

HANDSHAKE = [
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
]


def test_websocket_upgrade_on_a_guarded_host_is_refused_with_no_key(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, None, method="GET", path="/api-ws/v1/inference", headers=HANDSHAKE)
    assert response.status == 400, response.body
    assert response.headers["x-guard-code"] == "guard.upgrade_refused"
    error = response.error
    assert error["code"] == "guard.upgrade_refused"
    assert "upgrade" in error["reason"].lower()
    for secret in SECRETS.values():
        assert secret not in response.body.decode()
    time.sleep(0.2)
    assert mock_upstream.heads == [], "the upgrade reached the upstream"
    assert mock_judge.requests == []


def test_websocket_upgrade_elsewhere_passes_untouched(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, None, method="GET", path="/socket", host="ws.example.org", headers=HANDSHAKE)
    # The mock upstream answers 200, not 101: what matters is that the guard let it through.
    assert response.status == 200, response.body
    [head] = mock_upstream.heads
    assert header_values(head, "upgrade") == ["websocket"]
    assert header_values(head, "authorization") == []


def test_an_odd_authority_of_a_guarded_host_is_refused(reference_envoy, mock_upstream, mock_judge):
    for authority in (f"{DASHSCOPE}:abc", f"{DASHSCOPE}:80:80", f"user@{DASHSCOPE}"):
        response = send(reference_envoy, '{"messages": [{"role": "user", "content": "my 账号"}]}'.encode(), host=authority)
        assert response.status == 400, (authority, response.body)
        assert response.headers["x-guard-code"] == "guard.invalid_authority"
    time.sleep(0.2)
    assert mock_upstream.heads == []


def raw_exchange(envoy, request: bytes) -> bytes:
    """Sends bytes as they are (what http.client will not write) and reads the response head and body."""
    with socket.create_connection(("127.0.0.1", envoy.port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next((l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), b"0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body


def test_connect_to_a_guarded_host_is_refused(reference_envoy, mock_upstream, mock_judge):
    response = raw_exchange(reference_envoy, f"CONNECT {DASHSCOPE}:443 HTTP/1.1\r\nhost: {DASHSCOPE}:443\r\n\r\n".encode())
    assert response.startswith(b"HTTP/1.1 400 "), response[:200]
    assert b"x-guard-code: guard.upgrade_refused" in response
    time.sleep(0.2)
    assert mock_upstream.heads == []


def test_two_host_headers_naming_a_guarded_host_are_refused(reference_envoy, mock_upstream, mock_judge):
    # Envoy joins the two into one :authority ("api.example.org,dashscope.aliyuncs.com").
    body = '{"messages": [{"role": "user", "content": "my 账号"}]}'.encode()
    request = (
        b"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nhost: api.example.org\r\n"
        + f"host: {DASHSCOPE}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    response = raw_exchange(reference_envoy, request)
    assert response.startswith(b"HTTP/1.1 400 "), response[:200]
    assert b"x-guard-code: guard.invalid_authority" in response
    time.sleep(0.2)
    assert mock_upstream.heads == []
