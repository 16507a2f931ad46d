"""Many requests at once, allowed, denied by rules and decided by the judge, on both workers:
each gets its own answer, and the upstream and the judge see exactly the ones they should."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

from helpers import SECRETS, chat, header_values

KINDS = {
    # kind: (text, expected status, expected rule)
    "benign": ("Write a haiku about tea, {marker}.", 200, None),
    "keyword": ("my QQ 账号 is {marker}", 403, "account-keyword"),
    "regex": ("call 13812345678 about {marker}", 403, "cn-mobile"),
    "judge-deny": ("the internal meeting agenda, {marker}.", 403, "confidential"),
}


def test_two_hundred_concurrent_requests_get_their_own_answers(reference_envoy, mock_upstream, mock_judge):
    # The judge decides by content, and names the request it decided about in its reason.
    mock_judge.next(mode="allow", rules=[{"contains": "internal meeting", "mode": "deny", "reason": "confidential {marker}"}])
    rng = random.Random(20240910)
    cases = [(f"req-{i}", rng.choice(sorted(KINDS))) for i in range(200)]

    def run(case):
        marker, kind = case
        text = KINDS[kind][0].format(marker=marker)
        return marker, kind, chat(reference_envoy, text, headers=[("x-test-id", marker)], timeout=30)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(run, cases))

    for marker, kind, response in results:
        _, status, rule = KINDS[kind]
        assert response.status == status, (marker, kind, response.body)
        if status == 200:
            # The upstream's answer for this very request, not a neighbour's.
            assert response.json()["id"] == f"chatcmpl-{marker}"
        else:
            assert response.error["rule"] == rule, (marker, response.body)
        if kind == "judge-deny":
            assert response.error["reason"] == f"confidential {marker}", response.body

    expected_upstream = sorted(m for m, k, _ in results if k == "benign")
    upstream = mock_upstream.requests
    seen_upstream = sorted(header_values(r, "x-test-id")[0] for r in upstream)
    assert seen_upstream == expected_upstream
    for request in upstream:
        assert header_values(request, "authorization") == [f"Bearer {SECRETS['dashscope_api_key']}"]
        assert header_values(request, "x-test-id")[0] in request["body"]

    # The judge was asked about exactly the requests no rule denied, once each.
    expected_judge = sorted(m for m, k, _ in results if k in ("benign", "judge-deny"))
    asked = []
    for call in mock_judge.requests:
        prompt = json.loads(call["body"])["messages"][0]["content"]
        [marker] = {m for m, _, _ in results if f"{m}," in prompt or f"{m}." in prompt}
        asked.append(marker)
    assert sorted(asked) == expected_judge
