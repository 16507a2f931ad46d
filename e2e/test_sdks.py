"""The official OpenAI and Anthropic Python SDKs as clients through Envoy and the guard.

Each SDK talks to Envoy's loopback listener with the Host the reference policy guards
(`dashscope.aliyuncs.com`): the OpenAI SDK on DashScope's compatible mode, the Anthropic SDK on
`/v1/messages` (guard answers it in Anthropic's error shape, whatever the host). For a rule's
deny, a judge's deny and a judge outage under `on_error deny`, the SDK must raise its own error
class for the status, with guard's reason in its message and guard's code where that SDK reads
a code. For the outage (503) the SDKs retry on their own: the attempts reaching Envoy are counted
with the default `max_retries` (2: three attempts) and with `max_retries=0` (one), the numbers
docs/language.md states.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from envoy import Envoy
from helpers import DASHSCOPE, REFERENCE_JUDGE, SECRETS, closed_port
from test_judge import MEETING
from test_rules import POLICY, assert_upstream_got_no_body

RULE_TEXT = "my QQ 账号 is 1111111"
RULE_REASON = "account identifiers must not leave the mesh"
JUDGE_REASON = "mentions a confidential internal meeting"
OUTAGE_REASON = "the content review could not decide (unreachable)"
# Requests the listener received, whatever became of them.
REQUESTS = "http.guard_e2e.downstream_rq_total"
# The client's own key: the guard replaces it with the injected one on approval.
CLIENT_KEY = "sk-client-not-the-real-key"


def openai_client(envoy: Envoy, **options) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=CLIENT_KEY,
        base_url=f"http://127.0.0.1:{envoy.port}/compatible-mode/v1",
        default_headers={"Host": DASHSCOPE},
        timeout=20,
        **options,
    )


def anthropic_client(envoy: Envoy, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=CLIENT_KEY,
        base_url=f"http://127.0.0.1:{envoy.port}",
        default_headers={"Host": DASHSCOPE},
        timeout=20,
        **options,
    )


def ask_openai(client: openai.OpenAI, text: str) -> None:
    client.chat.completions.create(model="qwen-turbo", messages=[{"role": "user", "content": text}])


def ask_anthropic(client: anthropic.Anthropic, text: str) -> None:
    client.messages.create(model="claude-e2e", max_tokens=64, messages=[{"role": "user", "content": text}])


@pytest.fixture(scope="module")
def judge_down(start_envoy, reference_plugin) -> Envoy:
    """The reference policy with nothing listening behind its judge's cluster (on_error deny)."""
    return start_envoy(reference_plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: closed_port()})


def check_openai(e: openai.APIStatusError, status: int, code: str, rule: str, reason: str) -> None:
    assert e.status_code == status
    assert reason in e.message
    # The SDK hands over the body's `error` object; `code` is guard's.
    assert e.code == code
    assert isinstance(e.body, dict)
    assert e.body["policy"] == POLICY and e.body["rule"] == rule and e.body["reason"] == reason
    assert e.response.headers["x-guard-code"] == code


def check_anthropic(e: anthropic.APIStatusError, status: int, code: str, rule: str, reason: str, kind: str) -> None:
    assert e.status_code == status
    assert reason in e.message
    # Anthropic's shape: the whole body, guard's fields inside `error` beside type and message.
    assert isinstance(e.body, dict) and e.body["type"] == "error"
    error = e.body["error"]
    assert error["type"] == kind
    assert error["code"] == code and error["policy"] == POLICY and error["rule"] == rule
    assert error["reason"] == reason
    # Where this SDK reads a stable code (`error.details.error_code`), and its `type` and message.
    assert e.error_code == code
    assert e.type == kind
    assert e.api_message is not None and reason in e.api_message
    assert e.response.headers["x-guard-code"] == code


def test_openai_sdk_raises_permission_denied_for_a_rule(reference_envoy, mock_upstream, mock_judge):
    with pytest.raises(openai.PermissionDeniedError) as caught:
        ask_openai(openai_client(reference_envoy), RULE_TEXT)
    check_openai(caught.value, 403, "guard.rule_denied", "account-keyword", RULE_REASON)
    assert caught.value.type == "policy_violation"
    assert_upstream_got_no_body(mock_upstream)


def test_openai_sdk_raises_permission_denied_for_a_judge(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="deny", reason=JUDGE_REASON)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        ask_openai(openai_client(reference_envoy), MEETING)
    check_openai(caught.value, 403, "guard.judge_denied", "confidential", JUDGE_REASON)
    # A deny is final: the SDK does not retry a 403.
    assert len(mock_judge.requests) == 1
    assert_upstream_got_no_body(mock_upstream)


def test_anthropic_sdk_raises_permission_denied_for_a_rule(reference_envoy, mock_upstream, mock_judge):
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        ask_anthropic(anthropic_client(reference_envoy), RULE_TEXT)
    check_anthropic(caught.value, 403, "guard.rule_denied", "account-keyword", RULE_REASON, "permission_error")
    assert_upstream_got_no_body(mock_upstream)


def test_anthropic_sdk_raises_permission_denied_for_a_judge(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="deny", reason=JUDGE_REASON)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        ask_anthropic(anthropic_client(reference_envoy), MEETING)
    check_anthropic(caught.value, 403, "guard.judge_denied", "confidential", JUDGE_REASON, "permission_error")
    assert len(mock_judge.requests) == 1
    assert_upstream_got_no_body(mock_upstream)


@pytest.mark.parametrize(("max_retries", "attempts"), [(None, 3), (0, 1)], ids=["default-retries", "no-retries"])
def test_openai_sdk_retries_a_judge_outage(judge_down, mock_upstream, max_retries, attempts):
    options = {} if max_retries is None else {"max_retries": max_retries}
    before = judge_down.stat(REQUESTS)
    with pytest.raises(openai.InternalServerError) as caught:
        ask_openai(openai_client(judge_down, **options), MEETING)
    check_openai(caught.value, 503, "guard.judge_unavailable", "confidential", OUTAGE_REASON)
    assert caught.value.type == "server_error"
    # The default max_retries is 2: the SDK sends the request three times, guard denies each.
    assert judge_down.stat(REQUESTS) - before == attempts
    assert_upstream_got_no_body(mock_upstream)


@pytest.mark.parametrize(("max_retries", "attempts"), [(None, 3), (0, 1)], ids=["default-retries", "no-retries"])
def test_anthropic_sdk_retries_a_judge_outage(judge_down, mock_upstream, max_retries, attempts):
    options = {} if max_retries is None else {"max_retries": max_retries}
    before = judge_down.stat(REQUESTS)
    # A 503 is the SDK's ServiceUnavailableError, an InternalServerError.
    with pytest.raises(anthropic.InternalServerError) as caught:
        ask_anthropic(anthropic_client(judge_down, **options), MEETING)
    assert type(caught.value) is anthropic.ServiceUnavailableError
    check_anthropic(caught.value, 503, "guard.judge_unavailable", "confidential", OUTAGE_REASON, "api_error")
    assert judge_down.stat(REQUESTS) - before == attempts
    assert_upstream_got_no_body(mock_upstream)
