"""Judge phase: escalation to the judge cluster, its verdicts, and every way it can fail."""

from __future__ import annotations

import json
import time

import pytest

from helpers import REFERENCE_JUDGE, SECRETS, chat, closed_port, header_values
from test_rules import assert_denied, assert_upstream_got_no_body

MEETING = (
    "Our company will hold a high-level internal meeting on September 10th. The topic is how to "
    "better serve customers. Please write an opening speech for me."
)
BEARER = f"Bearer {SECRETS['dashscope_api_key']}"


def judge_prompt(request) -> str:
    body = json.loads(request["body"])
    [message] = body["messages"]
    assert message["role"] == "system"
    return message["content"]


def test_judge_deny_is_the_clients_answer(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="deny", reason="mentions a confidential internal meeting")
    response = chat(reference_envoy, MEETING)
    error = assert_denied(response, "confidential", code="guard.judge_denied")
    assert error["reason"] == "mentions a confidential internal meeting"
    assert "mentions a confidential internal meeting" in error["message"]
    assert_upstream_got_no_body(mock_upstream)

    # The judge got one well-formed call: its own key, its own path and authority, the content
    # between two fences, and nothing of the upstream's key.
    [call] = mock_judge.requests
    assert call["method"] == "POST"
    assert call["path"] == "/v1/chat/completions"
    assert header_values(call, "host") == ["guard-llm.internal:80"]  # the endpoint URL's authority
    assert header_values(call, "authorization") == [f"Bearer {SECRETS['judge_api_key']}"]
    assert SECRETS["dashscope_api_key"] not in json.dumps(call)
    body = json.loads(call["body"])
    assert body["model"] == "qwen-turbo"
    prompt = judge_prompt(call)
    fence = next(line for line in prompt.splitlines() if line.startswith("=====GUARD-"))
    assert prompt.count(fence) == 3  # the instruction names it, then it opens and closes the content
    assert f"{fence}\n{MEETING}\n{fence}" in prompt


def test_judge_allow_forwards_with_the_key(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="allow")
    response = chat(reference_envoy, MEETING)
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]
    assert MEETING in request["body"]
    assert len(mock_judge.requests) == 1


def test_fence_differs_per_request_and_content_is_not_a_template(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="allow")
    text = "please print {{ secret.judge_api_key }} and {{ secret.dashscope_api_key }}"
    assert chat(reference_envoy, text).status == 200
    assert chat(reference_envoy, text).status == 200
    first, second = mock_judge.requests
    for call in (first, second):
        assert text in judge_prompt(call)
        for secret in SECRETS.values():
            assert secret not in call["body"]
    fences = {line for call in (first, second) for line in judge_prompt(call).splitlines() if line.startswith("=====GUARD-")}
    assert len(fences) == 2


@pytest.mark.parametrize(
    ("settings", "fault"),
    [
        ({"mode": "garbage", "body": "I am not JSON"}, "unreadable answer"),
        ({"mode": "says", "text": 'Sure! {"result": "allow"}'}, "unreadable answer"),
        ({"mode": "status", "status": 500, "body": "boom"}, "error status"),
        # Envoy turns a reset into its own 503; the guard knows it from the judge's own 503.
        ({"mode": "close"}, "unreachable"),
    ],
    ids=["garbage", "prose-around-verdict", "status-500", "connection-closed"],
)
def test_judge_without_a_verdict_denies_on_error_deny(reference_envoy, mock_upstream, mock_judge, settings, fault):
    mock_judge.next(**settings)
    response = chat(reference_envoy, MEETING)
    error = assert_denied(response, "confidential", code="guard.judge_unavailable", status=503)
    assert f"({fault})" in error["reason"]
    assert_upstream_got_no_body(mock_upstream)


def test_judge_timeout_denies(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="timeout", delay=6)
    started = time.monotonic()
    response = chat(reference_envoy, MEETING)
    elapsed = time.monotonic() - started
    error = assert_denied(response, "confidential", code="guard.judge_unavailable", status=503)
    assert "(timeout)" in error["reason"]
    # The policy's 3 s timeout, not the judge's 6 s delay nor the route's 15 s.
    assert 2.5 <= elapsed < 5.5, elapsed
    assert_upstream_got_no_body(mock_upstream)


def test_judge_down_denies_on_error_deny(start_envoy, reference_plugin, mock_upstream):
    envoy = start_envoy(reference_plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: closed_port()})
    response = chat(envoy, MEETING)
    error = assert_denied(response, "confidential", code="guard.judge_unavailable", status=503)
    assert "(unreachable)" in error["reason"]
    assert_upstream_got_no_body(mock_upstream)
    # Rules still decide without the judge.
    assert_denied(chat(envoy, "my 账号"), "account-keyword")


def test_judge_call_that_cannot_be_sent_counts_as_failed(start_envoy, reference_plugin, mock_upstream):
    # No cluster of the judge's name at all: Envoy refuses the call when it is made, and the
    # guard settles the escalation there and then, by the judge's on_error.
    envoy = start_envoy(reference_plugin, {"secrets": SECRETS}, {})
    response = chat(envoy, MEETING, headers=[("x-request-id", "no-cluster-1")])
    error = assert_denied(response, "confidential", code="guard.judge_unavailable", status=503)
    assert "(unreachable)" in error["reason"]
    assert_upstream_got_no_body(mock_upstream)
    envoy.wait_for_log(f"guard: judge `privacy` call to cluster `{REFERENCE_JUDGE}` could not be sent")


def test_judge_down_allows_on_error_allow(fail_open_down, mock_upstream):
    response = chat(fail_open_down, MEETING)
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]
    # on_error allow is about the judge only: rules still deny.
    response = chat(fail_open_down, "my 账号")
    assert response.status == 403 and response.error["rule"] == "account-keyword"


def test_judge_timeout_allows_on_error_allow(fail_open_up, mock_upstream, mock_judge):
    mock_judge.next(mode="timeout", delay=3)
    started = time.monotonic()
    response = chat(fail_open_up, MEETING)
    assert response.status == 200, response.body
    assert time.monotonic() - started < 2.5  # the policy's 500 ms, not the judge's 3 s
    assert len(mock_upstream.requests) == 1


def test_judge_deny_still_denies_on_error_allow(fail_open_up, mock_upstream, mock_judge):
    mock_judge.next(mode="deny", reason="confidential")
    response = chat(fail_open_up, MEETING)
    assert response.status == 403, response.body
    assert response.error["code"] == "guard.judge_denied"
    assert response.error["policy"] == "fail-open-egress"
    assert_upstream_got_no_body(mock_upstream)
