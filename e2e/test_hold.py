"""The request head is held until the body is decided, and what each deployment variant does.

- Default (`hold_request_headers` on, Envoy's `allow_on_headers_stop_iteration: true`, as
  `guardc build` deploys): a rule-denied, a judge-denied and a refused request leave no request
  head upstream; an approved one arrives with the injected key.
- `"hold_request_headers": false` (for meshes that cannot set the Envoy flag): the head, with the
  key, goes upstream before the body verdict; a denied request's body never follows.
- Holding without the Envoy flag: Envoy stops the request at the head and delivers no body; the
  guard notices, answers 500 `guard.hold_unsupported` and logs why. Nothing reaches the upstream.

The mock upstream records each request head the moment it arrives, before reading any body.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from helpers import REFERENCE_JUDGE, SECRETS, chat, chat_body, header_values, send
from test_judge import MEETING
from test_rules import assert_denied

BEARER = f"Bearer {SECRETS['dashscope_api_key']}"
HELD = "request heads held until the body is decided"
SENT_FIRST = "request heads sent before the body verdict (hold_request_headers: false)"


def assert_no_head_upstream(mock_upstream) -> None:
    time.sleep(0.2)
    assert mock_upstream.heads == [], "the upstream saw the request head"
    assert mock_upstream.requests == []


def test_rule_denied_request_leaves_no_head_upstream(reference_envoy, mock_upstream, mock_judge):
    response = chat(reference_envoy, "my QQ 账号 is 1111111")
    assert_denied(response, "account-keyword")
    assert_no_head_upstream(mock_upstream)


def test_judge_denied_request_leaves_no_head_upstream(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="deny", reason="mentions a confidential internal meeting")
    response = chat(reference_envoy, MEETING)
    assert_denied(response, "confidential", code="guard.judge_denied")
    assert_no_head_upstream(mock_upstream)


def test_refused_request_leaves_no_head_upstream(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, b'{"model": "qwen-turbo", "messages": [')
    assert response.status == 400, response.body
    assert response.headers["x-guard-code"].startswith("guard.")
    assert_no_head_upstream(mock_upstream)


def test_approved_request_gets_the_key_only_once_approved(reference_envoy, mock_upstream, mock_judge):
    response = chat(reference_envoy, "Write a haiku about tea.", headers=[("authorization", "Bearer client-own")])
    assert response.status == 200, response.body
    [head] = mock_upstream.heads
    assert header_values(head, "authorization") == [BEARER]
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]


def test_the_mode_is_logged_once_at_configuration(reference_envoy):
    log = reference_envoy.wait_for_log(HELD)
    assert SENT_FIRST not in log


@pytest.fixture(scope="module")
def headers_first(start_envoy, reference_plugin, judge):
    config = {"secrets": SECRETS, "hold_request_headers": False}
    return start_envoy(reference_plugin, config, {REFERENCE_JUDGE: judge.port}, allow_on_headers_stop_iteration=False)


def test_opting_out_sends_the_head_first_but_never_a_denied_body(headers_first, mock_upstream, mock_judge):
    headers_first.wait_for_log(SENT_FIRST)
    response = chat(headers_first, "my QQ 账号 is 1111111")
    assert_denied(response, "account-keyword")
    time.sleep(0.3)
    # What this variant guarantees, and what it does not: the head (with the key) may have gone
    # upstream before the verdict; the body never does, and no complete request arrives.
    assert mock_upstream.requests == []
    for head in mock_upstream.heads:
        assert header_values(head, "authorization") == [BEARER]
    for partial in mock_upstream.partial:
        assert "body" not in partial


def test_opting_out_still_forwards_approved_requests(headers_first, mock_upstream, mock_judge):
    response = chat(headers_first, "Write a haiku about tea.")
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]


def test_holding_without_the_envoy_flag_fails_closed_and_loudly(start_envoy, reference_plugin, judge, mock_upstream, mock_judge):
    envoy = start_envoy(reference_plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: judge.port}, allow_on_headers_stop_iteration=False)
    started = time.monotonic()
    response = chat(envoy, "Write a haiku about tea.", timeout=30)
    elapsed = time.monotonic() - started
    assert response.status == 500, response.body
    assert response.headers["x-guard-code"] == "guard.hold_unsupported"
    assert response.error["code"] == "guard.hold_unsupported"
    assert elapsed < 15, f"took {elapsed:.1f} s"
    log = envoy.wait_for_log("allow_on_headers_stop_iteration: true` in the Wasm filter config")
    assert "[error]" in next(line for line in log.splitlines() if "without a body callback" in line)
    assert_no_head_upstream(mock_upstream)
    # A request without a body is decided in the headers phase and needs no body callback.
    response = send(envoy, None, method="GET", path="/compatible-mode/v1/models")
    assert response.status == 200, response.body


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_http2_requests_are_held_and_forwarded_whole(reference_envoy, mock_upstream, mock_judge, tmp_path):
    """Over HTTP/2 (h2c, many DATA frames) the head is held the same way and a 2 MiB body is
    forwarded byte for byte."""
    def curl(body: bytes) -> str:
        path = tmp_path / "body.json"
        path.write_bytes(body)
        result = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
             "-H", "content-type: application/json", "-H", "host: dashscope.aliyuncs.com", "--data-binary", f"@{path}",
             f"http://127.0.0.1:{reference_envoy.port}/compatible-mode/v1/chat/completions"],
            capture_output=True, text=True, timeout=60,
        )
        return result.stdout

    assert curl(chat_body("my QQ 账号 is 1111111")) == "403 2"
    assert_no_head_upstream(mock_upstream)
    big = chat_body("lorem ipsum " * 180_000)
    assert len(big) > 2 << 20
    assert curl(big) == "200 2"
    [request] = mock_upstream.requests
    assert bytes.fromhex(request["body_hex"]) == big
    assert header_values(request, "authorization") == [BEARER]
