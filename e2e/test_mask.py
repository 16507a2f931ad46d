"""Masking through Envoy: what reaches the upstream, what the judge is shown, and what the
client gets back with `restore`.

The Envoy runs the example policies together (`policies/*.guard`), whose `mobile-number` rule
masks Chinese mobile numbers as `[PHONE_n]` and restores them in the answer. The mock upstream
echoes the last message it received (`x-test-echo`), so the answer carries the placeholders the
model was given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from envoy import ROOT, Envoy
from helpers import REFERENCE_JUDGE, send
from mocks import MockJudge

OPENAI = "api.openai.com"
OPENAI_PATH = "/v1/chat/completions"


@pytest.fixture(scope="module")
def mask_envoy(build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge) -> Envoy:
    plugin = build_plugin(*sorted((ROOT / "policies").glob("*.guard")))
    secrets = {
        "openai_api_key": "sk-e2e-openai-mask",
        "anthropic_api_key": "sk-e2e-anthropic-mask",
        "dashscope_api_key": "sk-e2e-dashscope-mask",
        "judge_api_key": "jk-e2e-judge-mask",
    }
    return start_envoy(plugin, {"secrets": secrets}, {REFERENCE_JUDGE: judge.port})


def chat(envoy: Envoy, text: str, request_id: str, echo: bool = False, **extra):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}).encode()
    headers = [("x-request-id", request_id)]
    if echo:
        headers.append(("x-test-echo", "1"))
    return send(envoy, body, host=OPENAI, path=OPENAI_PATH, headers=headers)


def test_the_upstream_gets_valid_json_without_the_numbers(mask_envoy, mock_upstream):
    response = chat(mask_envoy, "call 13812345678 or 13987654321, again 13812345678", "mask-upstream", temperature=0.5)
    assert response.status == 200, response.body
    (seen,) = mock_upstream.requests
    sent = bytes.fromhex(seen["body_hex"])
    doc = json.loads(sent)
    assert doc["messages"][0]["content"] == "call [PHONE_1] or [PHONE_2], again [PHONE_1]"
    assert doc["temperature"] == 0.5
    assert b"13812345678" not in sent and b"13987654321" not in sent
    # The held head went with the masked body's length, not the client's.
    lengths = [v for k, v in seen["headers"] if k == "content-length"]
    assert lengths == [str(len(sent))], seen["headers"]


def test_the_answer_gets_the_numbers_back(mask_envoy, mock_upstream):
    response = chat(mask_envoy, "remind me: 13812345678", "mask-restore", echo=True)
    assert response.status == 200, response.body
    (seen,) = mock_upstream.requests
    assert json.loads(seen["body"])["messages"][0]["content"] == "remind me: [PHONE_1]"
    answer = json.loads(response.body)
    assert answer["choices"][0]["message"]["content"] == "remind me: 13812345678"


def test_another_requests_placeholder_is_not_restored(mask_envoy, mock_upstream):
    # No number in this request: `[PHONE_1]` stands for nothing here and comes back as written.
    response = chat(mask_envoy, "what is [PHONE_1]?", "mask-foreign", echo=True)
    assert response.status == 200, response.body
    answer = json.loads(response.body)
    assert answer["choices"][0]["message"]["content"] == "what is [PHONE_1]?"


def test_the_judge_is_shown_the_masked_text(mask_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="allow")
    response = chat(mask_envoy, "internal note: call 13812345678", "mask-judge")
    assert response.status == 200, response.body
    (asked,) = mock_judge.requests
    shown = json.dumps(asked)
    assert "[PHONE_1]" in shown and "13812345678" not in shown


def test_masking_is_counted_and_audited_without_the_value(mask_envoy, mock_upstream):
    counter = "wasmcustom.guard.rule_matches.policy=pii.rule=mobile-number.action=mask.mode=enforce"
    before = mask_envoy.stat(counter)
    assert chat(mask_envoy, "call 13700001111", "mask-count").status == 200
    assert mask_envoy.stat(counter) == before + 1
    access = mask_envoy.wait_for_access_log("masked=mobile-number")
    assert "13700001111" not in access and "13700001111" not in mask_envoy.log()


def test_a_gzip_body_with_a_number_is_refused_not_forwarded(mask_envoy, mock_upstream):
    import gzip

    body = gzip.compress(json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "call 13812345678"}]}).encode())
    response = send(
        mask_envoy,
        body,
        host=OPENAI,
        path=OPENAI_PATH,
        headers=[("content-type", "application/json"), ("content-encoding", "gzip")],
    )
    assert response.status == 422, response.body
    assert json.loads(response.body)["error"]["code"] == "guard.mask_unsupported"
    assert mock_upstream.requests == []
