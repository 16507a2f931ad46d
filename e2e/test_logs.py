"""Observability: a denial is one log line naming policy, rule and code; no prompt text and no
secret is ever written, whichever way the request went; counters count each outcome."""

from __future__ import annotations

import re

from helpers import SECRETS, chat

# Words that occur only in this test's prompts.
PROMPTS = {
    "allowed": "Tell me about the quokka-7c1e habitat.",
    "keyword": "the 账号 of wombat-2f9a",
    "regex": "numbat-5b3d 13912345678",
    "judge-deny": "bilby-8e4c internal meeting",
    "judge-garbage": "dugong-1a6f notes",
}
MARKERS = ["quokka-7c1e", "wombat-2f9a", "numbat-5b3d", "13912345678", "bilby-8e4c", "dugong-1a6f"]


def test_logs_hold_no_prompt_text_and_no_secret(reference_envoy, mock_upstream, mock_judge):
    mock_judge.next(mode="allow", rules=[
        {"contains": "bilby-8e4c", "mode": "deny", "reason": "bilby-8e4c is confidential"},
        {"contains": "dugong-1a6f", "mode": "garbage", "body": "dugong-1a6f garbage"},
    ])
    counters = ["allowed", "denied", "escalated", "judge_errors"]
    before = {name: reference_envoy.stat(f"wasmcustom.guard.{name}") for name in counters}
    statuses = {kind: chat(reference_envoy, text, headers=[("x-request-id", f"log-test-{kind}")]).status for kind, text in PROMPTS.items()}
    assert statuses == {"allowed": 200, "keyword": 403, "regex": 403, "judge-deny": 403, "judge-garbage": 503}
    # The last line this test causes; Envoy writes its log asynchronously.
    log = reference_envoy.wait_for_log("code=guard.judge_unavailable status=503 request_id=log-test-judge-garbage")

    for marker in MARKERS:
        assert marker not in log, f"prompt text {marker!r} in the Envoy log"
    for secret in SECRETS.values():
        assert secret not in log, "a secret is in the Envoy log"

    # Each denial is logged once, with what an operator needs and the request id to correlate.
    denials = {
        "keyword": r"guard: denied policy=dashscope-egress rule=account-keyword mode=enforce judge=- code=guard.rule_denied status=403 request_id=log-test-keyword",
        "regex": r"guard: denied policy=dashscope-egress rule=cn-mobile mode=enforce judge=- code=guard.rule_denied status=403 request_id=log-test-regex",
        "judge-deny": r"guard: denied policy=dashscope-egress rule=confidential mode=enforce judge=privacy code=guard.judge_denied status=403 request_id=log-test-judge-deny",
        "judge-garbage": r"guard: denied policy=dashscope-egress rule=confidential mode=enforce judge=privacy code=guard.judge_unavailable status=503 request_id=log-test-judge-garbage",
    }
    for kind, line in denials.items():
        assert len(re.findall(re.escape(line), log)) == 1, f"{kind}: {line!r} not logged exactly once"
    assert "request_id=log-test-allowed" not in log
    assert re.search(r"guard: judge `privacy` gave no verdict: judge answer is not a chat completion after \d+ ms request_id=log-test-judge-garbage", log)

    after = {name: reference_envoy.stat(f"wasmcustom.guard.{name}") for name in counters}
    delta = {name: after[name] - before[name] for name in counters}
    # allowed: the benign one; escalated: the three no rule denied; judge errors: the garbage.
    assert delta == {"allowed": 1, "denied": 4, "escalated": 3, "judge_errors": 1}
