"""Headers phase: the key is injected for the policy's host only, replacing what the client sent."""

from __future__ import annotations

from helpers import DASHSCOPE, SECRETS, chat, chat_body, header_values, send

BEARER = f"Bearer {SECRETS['dashscope_api_key']}"


def test_key_is_injected_when_the_client_sends_none(reference_envoy, mock_upstream, mock_judge):
    response = chat(reference_envoy, "Write a haiku about red bean zongzi.")
    assert response.status == 200, response.body
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the mock upstream."
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]
    assert header_values(request, "host") == [DASHSCOPE]
    assert request["path"] == "/compatible-mode/v1/chat/completions"
    # The body reaches the upstream byte for byte.
    assert request["body"] == chat_body("Write a haiku about red bean zongzi.").decode()


def test_client_key_is_replaced_even_when_sent_twice(reference_envoy, mock_upstream, mock_judge):
    response = chat(
        reference_envoy,
        "Write a haiku about red bean zongzi.",
        headers=[("Authorization", "Bearer sk-client-own-key"), ("authorization", "Bearer sk-client-second")],
    )
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]


def test_host_is_matched_case_insensitively_with_port_and_trailing_dot(reference_envoy, mock_upstream, mock_judge):
    response = chat(reference_envoy, "Write a haiku about tea.", host="DashScope.Aliyuncs.com.:80")
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [BEARER]


def test_other_host_is_untouched_and_keyless(reference_envoy, mock_upstream, mock_judge):
    # Not selected: no key, no scanning (this text would be denied on the policy's host), no judge.
    response = chat(reference_envoy, "my 账号 is 1111111", host="api.example.com")
    assert response.status == 200, response.body
    response = chat(
        reference_envoy, "hello", host="dashscope.aliyuncs.com.evil.example", headers=[("authorization", "Bearer own")]
    )
    assert response.status == 200, response.body
    first, second = mock_upstream.requests
    assert header_values(first, "authorization") == []
    assert header_values(first, "host") == ["api.example.com"]
    assert "账号" in first["body"]
    assert header_values(second, "authorization") == ["Bearer own"]
    assert mock_judge.requests == []


def test_request_without_body_gets_the_key(reference_envoy, mock_upstream, mock_judge):
    response = send(reference_envoy, None, method="GET", path="/compatible-mode/v1/models")
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert request["method"] == "GET"
    assert header_values(request, "authorization") == [BEARER]
    assert mock_judge.requests == []


def test_policy_removes_a_header(fail_open_up, mock_upstream, mock_judge):
    response = chat(fail_open_up, "hello", headers=[("X-Debug-User", "alice"), ("X-Other", "kept")])
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "x-debug-user") == []
    assert header_values(request, "x-other") == ["kept"]
    assert header_values(request, "authorization") == [BEARER]
