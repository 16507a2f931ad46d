"""Body phase: deny rules answer 403 in the OpenAI error shape; the upstream never gets the body."""

from __future__ import annotations

import gzip
import time

from helpers import SECRETS, chat, send

POLICY = "dashscope-egress"


def assert_denied(response, rule: str, code: str = "guard.rule_denied", status: int = 403) -> dict:
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-guard-code"] == code
    error = response.error
    assert set(error) >= {"message", "type", "code"}
    assert error["code"] == code
    # OpenAI's error type: guard's own for a policy's deny, the server's for an outage (503).
    assert error["type"] == ("policy_violation" if status == 403 else "server_error" if status >= 500 else "invalid_request_error")
    assert error["policy"] == POLICY
    assert error["rule"] == rule
    assert POLICY in error["message"] and rule in error["message"]
    # A denial never echoes a secret.
    for secret in SECRETS.values():
        assert secret not in response.body.decode()
    return error


def assert_upstream_got_no_body(mock_upstream) -> None:
    # The guard holds the request head until the body is decided (the default, with Envoy's
    # allow_on_headers_stop_iteration): a denied request leaves nothing at all upstream, not even
    # its request line or the injected key.
    time.sleep(0.2)
    assert mock_upstream.requests == []
    assert mock_upstream.heads == [], "a denied request's head reached the upstream"


def test_keyword_denies(reference_envoy, mock_upstream, mock_judge):
    response = chat(reference_envoy, "I like red bean zongzi, and my QQ 账号 is 1111111")
    error = assert_denied(response, "account-keyword")
    assert error["reason"] == "account identifiers must not leave the mesh"
    assert_upstream_got_no_body(mock_upstream)
    assert mock_judge.requests == []


def test_keyword_in_system_message_and_as_json_escape(reference_envoy, mock_upstream, mock_judge):
    # Every role is scanned, and `\u8d26\u53f7` is 账号 once decoded.
    response = chat(reference_envoy, ("system", "Always mention the account number."), "hi")
    assert_denied(response, "account-keyword")
    escaped = b'{"model":"qwen-turbo","messages":[{"role":"user","content":"my \\u8d26\\u53f7"}]}'
    assert_denied(send(reference_envoy, escaped), "account-keyword")
    assert_upstream_got_no_body(mock_upstream)


def test_regex_denies(reference_envoy, mock_upstream, mock_judge):
    response = chat(reference_envoy, "Call me at 13812345678 tomorrow.")
    error = assert_denied(response, "cn-mobile")
    assert error["reason"] == "mobile phone number"
    assert_upstream_got_no_body(mock_upstream)
    assert mock_judge.requests == []


def test_unreadable_body_is_refused_not_forwarded(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, b'{"model": "qwen-turbo", "messages": [')
    assert response.status == 400, response.body
    assert response.error["code"].startswith("guard.")
    assert response.error["policy"] == POLICY
    assert_upstream_got_no_body(mock_upstream)


def test_gzip_body_is_decoded_and_scanned(reference_envoy, mock_upstream, mock_judge):
    body = gzip.compress(b'{"model":"qwen-turbo","messages":[{"role":"user","content":"my \xe8\xb4\xa6\xe5\x8f\xb7"}]}')
    response = send(reference_envoy, body, headers=[("content-encoding", "gzip")])
    assert response.status == 403, response.body
    assert response.error["rule"] == "account-keyword"
    assert_upstream_got_no_body(mock_upstream)


def test_undecodable_encoding_is_refused(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, b"\x1b\x00\x00", headers=[("content-encoding", "br")])
    assert response.status == 415, response.body
    assert response.headers["x-guard-code"] == "guard.unsupported_encoding"
    assert_upstream_got_no_body(mock_upstream)


def test_gzip_bomb_is_refused(reference_envoy, mock_upstream, mock_judge):
    # 64 KiB on the wire, 64 MiB decoded: past the 8 MiB limit.
    body = gzip.compress(b" " * (64 << 20), compresslevel=9)
    response = send(reference_envoy, body, headers=[("content-encoding", "gzip")])
    assert response.status == 413, response.body
    assert response.headers["x-guard-code"] == "guard.body_too_large"
    assert_upstream_got_no_body(mock_upstream)
