"""Telemetry through Envoy (issue 13): the labelled metrics a known mix of requests leaves in
Envoy's stats (raw names, no tag configuration), the bundle's info gauge and configure line, the
request id and bundle in error bodies, and the debug-level audit lines, which carry where a rule
matched but never the prompt text or a secret.

The Envoy runs the example policies together (`policies/*.guard`), with `wasm:debug` logging.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from envoy import ROOT, Envoy
from helpers import REFERENCE_JUDGE, send
from mocks import MockJudge

OPENAI = "api.openai.com"
OPENAI_PATH = "/v1/chat/completions"
SECRETS = {
    "openai_api_key": "sk-e2e-openai-tele-5d1c",
    "anthropic_api_key": "sk-e2e-anthropic-tele-9a2e",
    "dashscope_api_key": "sk-e2e-dashscope-tele-77b0",
    "judge_api_key": "jk-e2e-judge-tele-3c4f",
}
# Words that occur only in this test's prompts.
MARKERS = ["kiwi-4e1a", "4111111111111111", "takahe-90bd", "kakapo-22f3", "weka-6c0e", "tui-b7d1"]

PREFIX = "wasmcustom.guard."
SELECTED = "pii,openai-key,openai-projects"


@pytest.fixture(scope="module")
def tele_envoy(build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge) -> Envoy:
    plugin = build_plugin(*sorted((ROOT / "policies").glob("*.guard")))
    return start_envoy(plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: judge.port}, wasm_log_level="debug")


def chat(envoy: Envoy, text: str, request_id: str | None):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()
    headers = [("x-request-id", request_id)] if request_id else []
    return send(envoy, body, host=OPENAI, path=OPENAI_PATH, headers=headers)


def metric_names(envoy: Envoy) -> list[str]:
    """Every stat name, histograms included (they have no `value` in Envoy's JSON)."""
    with urllib.request.urlopen(envoy.admin + "/stats?format=json", timeout=5) as r:
        doc = json.load(r)
    names = [s["name"] for s in doc.get("stats", []) if "name" in s]
    for entry in doc.get("stats", []):
        for quantiles in (entry.get("histograms") or {}).get("computed_quantiles", []):
            names.append(quantiles["name"])
    return names


def test_a_known_mix_of_requests_gives_the_right_counts(tele_envoy, mock_upstream, mock_judge):
    series = {
        "card": "rule_matches.policy=pii.rule=card-number.action=deny.mode=enforce",
        "codename": "rule_matches.policy=pii.rule=new-codenames.action=deny.mode=monitor",
        "review": "rule_matches.policy=pii.rule=internal-review.action=escalate.mode=enforce",
        "roadmap": "rule_matches.policy=pii.rule=roadmap-review.action=escalate.mode=monitor",
        "judge_allow": "judge_calls.judge=privacy.outcome=allow",
        "judge_deny": "judge_calls.judge=privacy.outcome=deny",
        "judge_timeout": "judge_calls.judge=privacy.outcome=timeout",
        "malformed": "refusals.code=malformed_json",
        "upgrade": "refusals.code=upgrade_refused",
        "seen_pii": "requests_seen.policy=pii",
        "passed_pii": "requests_passed.policy=pii",
        "seen_key": "requests_seen.policy=openai-key",
        "passed_key": "requests_passed.policy=openai-key",
        "seen_dashscope": "requests_seen.policy=dashscope-egress",
    }
    stats = tele_envoy.stats()
    for name in series.values():
        # Defined at configure, so a dashboard sees every series from the start.
        assert PREFIX + name in stats, f"{name} is not defined"
    before = {key: stats[PREFIX + name] for key, name in series.items()}

    mock_judge.next(mode="allow", rules=[{"contains": "weka-6c0e", "mode": "deny", "reason": "weka-6c0e is confidential"}])
    statuses = [
        chat(tele_envoy, "card 4111111111111111 for kiwi-4e1a", "t-card").status,
        chat(tele_envoy, "again 4111111111111111", "t-card2").status,
        chat(tele_envoy, "the Atlas plan, takahe-90bd", "t-monitored").status,
        chat(tele_envoy, "a haiku about kakapo-22f3", None).status,
        send(tele_envoy, b'{"model": "gpt-4o", "messages": [', host=OPENAI, path=OPENAI_PATH, headers=[("x-request-id", "t-malformed")]).status,
        chat(tele_envoy, "polish this internal memo", "t-judge-allow").status,
        chat(tele_envoy, "internal weka-6c0e figures", "t-judge-deny").status,
    ]
    assert statuses == [403, 403, 200, 200, 400, 200, 403]
    tele_envoy.wait_for_log("request_id=t-judge-deny")

    after = tele_envoy.stats()
    delta = {key: after[PREFIX + name] - before[key] for key, name in series.items()}
    assert delta == {
        "card": 2, "codename": 1, "review": 2, "roadmap": 0,
        "judge_allow": 1, "judge_deny": 1, "judge_timeout": 0,
        "malformed": 1, "upgrade": 0,
        "seen_pii": 7, "passed_pii": 3, "seen_key": 7, "passed_key": 3, "seen_dashscope": 0,
    }
    assert PREFIX + "judge_latency_ms.judge=privacy" in metric_names(tele_envoy)

    # The bundle's info gauge, named as the configure line names the bundle.
    (bundle,) = [n[len(PREFIX + "bundle_info.bundle="):] for n, v in after.items() if n.startswith(PREFIX + "bundle_info.bundle=") and v == 1]
    assert re.fullmatch(r"[0-9a-f]{12}", bundle)
    assert f"guard: configured bundle={bundle} policies=dashscope-egress,pii,openai-key,anthropic-key,openai-projects" in tele_envoy.log()


def test_error_bodies_name_the_request_and_the_bundle(tele_envoy, mock_upstream):
    response = chat(tele_envoy, "card 4111111111111111", "t-body")
    assert response.status == 403
    assert response.headers.get("x-request-id") == "t-body"
    error = json.loads(response.body)["error"]
    assert error["request_id"] == "t-body"
    assert re.fullmatch(r"[0-9a-f]{12}", error["bundle"])
    # Without one, Envoy's generated id is the body's and the header's.
    response = chat(tele_envoy, "card 4111111111111111", None)
    generated = response.headers.get("x-request-id")
    assert generated and json.loads(response.body)["error"]["request_id"] == generated


def test_audit_lines_say_where_but_never_what(tele_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="allow", rules=[{"contains": "tui-b7d1", "mode": "deny", "reason": "tui-b7d1 is confidential"}])
    assert chat(tele_envoy, "card 4111111111111111 kiwi-4e1a", "a-card").status == 403
    assert chat(tele_envoy, "the Atlas plan, takahe-90bd", "a-monitored").status == 200
    assert send(tele_envoy, b'{"messages": [', host=OPENAI, path=OPENAI_PATH, headers=[("x-request-id", "a-malformed")]).status == 400
    assert chat(tele_envoy, "internal tui-b7d1", "a-judge").status == 403
    log = tele_envoy.wait_for_log("guard-audit v=1 request_id=a-judge ")
    # Let the file catch up with every line of the requests above.
    time.sleep(0.2)
    log = tele_envoy.log()
    audit = [line[line.index("guard-audit "):] for line in log.splitlines() if "guard-audit " in line]
    by_id = {re.search(r"request_id=(\S+)", line).group(1): line for line in audit}
    d = r"[0-9a-f]{12}"
    assert re.fullmatch(
        rf"guard-audit v=1 request_id=a-card bundle={d} verdict=deny policy=pii rule=card-number action=deny mode=enforce code=guard.rule_denied status=403 segment=messages\[0\].content chars=5\.\.21 judge=- judge_outcome=- judge_ms=-",
        by_id["a-card"],
    ), by_id["a-card"]
    assert re.fullmatch(
        rf"guard-audit v=1 request_id=a-monitored bundle={d} verdict=monitor policy=pii rule=new-codenames action=deny mode=monitor code=guard.rule_denied status=- segment=messages\[0\].content chars=\d+\.\.\d+ judge=- judge_outcome=- judge_ms=-",
        by_id["a-monitored"],
    ), by_id["a-monitored"]
    assert re.fullmatch(
        rf"guard-audit v=1 request_id=a-malformed bundle={d} verdict=refuse policy={SELECTED} rule=- action=- mode=- code=guard.malformed_json status=400 segment=- chars=- judge=- judge_outcome=- judge_ms=-",
        by_id["a-malformed"],
    ), by_id["a-malformed"]
    assert re.fullmatch(
        rf"guard-audit v=1 request_id=a-judge bundle={d} verdict=deny policy=pii rule=internal-review action=escalate mode=enforce code=guard.judge_denied status=403 segment=- chars=- judge=privacy judge_outcome=deny judge_ms=\d+",
        by_id["a-judge"],
    ), by_id["a-judge"]
    for marker in MARKERS:
        assert marker not in log, f"prompt text {marker!r} in the Envoy log"
    assert "Atlas" not in log
    for secret in SECRETS.values():
        assert secret not in log, "a secret is in the Envoy log"
