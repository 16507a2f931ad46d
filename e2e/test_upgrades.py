"""Protocol upgrades: a WebSocket handshake on a guarded host is refused with guard's JSON error
before any header is injected, though the listener allows WebSocket upgrades; the upstream sees
nothing. On a host no policy guards the upgrade is not the guard's business."""

from __future__ import annotations

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
