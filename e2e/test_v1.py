"""Language v1 through Envoy, beyond the verdicts the differential suite replays: what operators
see of a monitored rule (its log line and counter, no prompt text), the per-rule counters of
enforced rules, and a judge asked only when its `when` matches.

The Envoy runs the example policies together (`policies/*.guard`: the shared PII policy, the
provider key policies, the DashScope reference policy), as `guardc test policies/` does.
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
KEY = "sk-e2e-openai-93c1d7"


@pytest.fixture(scope="module")
def v1_envoy(build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge) -> Envoy:
    plugin = build_plugin(*sorted((ROOT / "policies").glob("*.guard")))
    secrets = {
        "openai_api_key": KEY,
        "anthropic_api_key": "sk-e2e-anthropic-51f0",
        "dashscope_api_key": "sk-e2e-dashscope-7f3a9c51",
        "judge_api_key": "jk-e2e-judge-41b2d8e6",
    }
    return start_envoy(plugin, {"secrets": secrets}, {REFERENCE_JUDGE: judge.port})


def chat(envoy: Envoy, text: str, request_id: str):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()
    return send(envoy, body, host=OPENAI, path=OPENAI_PATH, headers=[("x-request-id", request_id)])


def test_a_monitored_match_goes_upstream_with_the_key_and_is_counted_and_logged(v1_envoy, mock_upstream, mock_judge):
    counter = "wasmcustom.guard.rule_matches.policy=pii.rule=new-codenames.action=deny.mode=monitor"
    before = v1_envoy.stat(counter)
    response = chat(v1_envoy, "the Atlas plan, marker-8d2f", "v1-monitored")
    assert response.status == 200, response.body
    (seen,) = mock_upstream.requests
    assert [v for k, v in seen["headers"] if k == "authorization"] == [f"Bearer {KEY}"]
    assert mock_judge.requests == [], "no `when` keyword: the judge is not asked"
    line = "guard: monitored policy=pii rule=new-codenames mode=monitor judge=- would=deny code=guard.rule_denied request_id=v1-monitored"
    log = v1_envoy.wait_for_log(line)
    assert log.count(line) == 1
    assert "marker-8d2f" not in log and "Atlas" not in log, "prompt text in the Envoy log"
    assert v1_envoy.stat(counter) == before + 1


def test_an_enforced_deny_is_counted_per_rule(v1_envoy, mock_upstream):
    counter = "wasmcustom.guard.rule_matches.policy=pii.rule=card-number.action=deny.mode=enforce"
    before = v1_envoy.stat(counter)
    # An order number that fails the Luhn check passes; the card beside it does not.
    assert chat(v1_envoy, "order 1234567812345678", "v1-order").status == 200
    mock_upstream.reset()
    response = chat(v1_envoy, "order 1234567812345678, card 4111111111111111", "v1-card")
    assert response.status == 403, response.body
    assert response.error["rule"] == "card-number"
    assert mock_upstream.requests == []
    assert v1_envoy.stat(counter) == before + 1
    v1_envoy.wait_for_log("rule=card-number mode=enforce judge=- code=guard.rule_denied status=403 request_id=v1-card")


def test_the_judge_is_asked_only_when_its_when_matches(v1_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="allow")
    assert chat(v1_envoy, "write a haiku about rain", "v1-no-when").status == 200
    assert mock_judge.requests == []
    assert chat(v1_envoy, "polish this internal memo", "v1-when").status == 200
    (asked,) = mock_judge.requests
    assert "polish this internal memo" in json.dumps(asked)


def test_a_monitored_judge_is_asked_and_its_deny_only_recorded(v1_envoy, mock_upstream, mock_judge):
    counter = "wasmcustom.guard.rule_matches.policy=pii.rule=roadmap-review.action=escalate.mode=monitor"
    before = v1_envoy.stat(counter)
    mock_judge.next(mode="deny", reason="discloses the product roadmap")
    response = chat(v1_envoy, "summarise our roadmap, marker-51ce", "v1-monitored-judge")
    assert response.status == 200, response.body
    assert len(mock_judge.requests) == 1
    (seen,) = mock_upstream.requests
    assert [v for k, v in seen["headers"] if k == "authorization"] == [f"Bearer {KEY}"]
    line = "guard: monitored policy=pii rule=roadmap-review mode=monitor judge=privacy would=deny code=guard.judge_denied request_id=v1-monitored-judge"
    log = v1_envoy.wait_for_log(line)
    assert "marker-51ce" not in log
    assert v1_envoy.stat(counter) == before + 1
