"""Body size: the limit users get is guard's (8 MiB, the one `guardc test` applies), with guard's
JSON error, whatever the listener's buffer limit; bodies past Envoy's default 1 MiB buffer are
scanned whole and forwarded byte for byte on the listener `guardc build` deploys.

The filter moves each body chunk out of Envoy's buffer as it arrives, so Envoy's buffer never
fills while the body is read. An approved body is handed back to Envoy whole, and there Envoy's
limit applies: the deployment raises the listener's `per_connection_buffer_limit_bytes` to cover
guard's limit (envoy.GUARD_BUFFER_LIMIT, the value the manifests set).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from envoy import GUARD_BUFFER_LIMIT
from helpers import REFERENCE_JUDGE, SECRETS, header_values, send
from test_rules import assert_denied, assert_upstream_got_no_body

MIB = 1 << 20
LIMIT = 8 * MIB
BEARER = f"Bearer {SECRETS['dashscope_api_key']}"


def body_of(size: int, tail: str = "") -> bytes:
    shell = json.dumps({"model": "qwen-turbo", "messages": [{"role": "user", "content": tail}]}, ensure_ascii=False).encode()
    filler = ("lorem ipsum " * (size // 12 + 1))[: size - len(shell)]
    body = json.dumps({"model": "qwen-turbo", "messages": [{"role": "user", "content": filler + tail}]}, ensure_ascii=False).encode()
    assert len(body) == size
    return body


def test_the_deployed_buffer_limit_covers_guards_limit():
    assert GUARD_BUFFER_LIMIT > LIMIT


def test_a_2_mib_body_is_scanned_and_forwarded_intact(reference_envoy, mock_upstream, mock_judge):
    # Through the judge too (the reference policy escalates what no rule denies).
    body = body_of(2 * MIB)
    response = send(reference_envoy, body, timeout=60)
    assert response.status == 200, response.body[:300]
    [request] = mock_upstream.requests
    assert hashlib.sha256(bytes.fromhex(request["body_hex"])).hexdigest() == hashlib.sha256(body).hexdigest()
    assert header_values(request, "authorization") == [BEARER]
    assert len(mock_judge.requests) == 1


def test_a_keyword_after_2_mib_is_found(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, body_of(2 * MIB + 100, " my 账号 is 1"), timeout=60)
    assert_denied(response, "account-keyword")
    assert_upstream_got_no_body(mock_upstream)


def test_a_body_at_the_limit_passes(reference_envoy, mock_upstream, mock_judge):
    body = body_of(LIMIT)
    response = send(reference_envoy, body, timeout=120)
    assert response.status == 200, response.body[:300]
    [request] = mock_upstream.requests
    assert len(bytes.fromhex(request["body_hex"])) == LIMIT


@pytest.fixture(scope="module")
def default_buffer(start_envoy, reference_plugin, judge):
    """The guard behind a listener with Envoy's default 1 MiB buffer limit."""
    return start_envoy(reference_plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: judge.port}, buffer_limit=None)


@pytest.mark.parametrize("listener", ["deployed", "default-1-mib"])
def test_over_the_limit_is_guards_json_413_whatever_the_listener(listener, reference_envoy, default_buffer, mock_upstream, mock_judge):
    envoy = reference_envoy if listener == "deployed" else default_buffer
    response = send(envoy, body_of(LIMIT + 1), timeout=120)
    assert response.status == 413, response.body[:300]
    assert response.headers["content-type"] == "application/json"
    assert response.error["code"] == "guard.body_too_large"
    assert_upstream_got_no_body(mock_upstream)


def test_without_the_deployed_buffer_limit_envoy_refuses_approved_large_bodies(default_buffer, mock_upstream, mock_judge):
    # Why the manifests raise the listener limit: handing a 2 MiB approved body back to an Envoy
    # whose buffer limit is 1 MiB makes Envoy answer its own plain-text 413 (nothing is forwarded).
    response = send(default_buffer, body_of(2 * MIB), timeout=60)
    assert response.status == 413
    assert response.body == b"Payload Too Large"
    assert_upstream_got_no_body(mock_upstream)
    # Under Envoy's limit, nothing changes.
    response = send(default_buffer, body_of(MIB // 2), timeout=60)
    assert response.status == 200, response.body[:300]
