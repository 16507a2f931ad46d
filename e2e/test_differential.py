"""Every fixture under policies/ through a real Envoy gives the verdict `guardc test` gives.

`guardc test --format json` evaluates each fixture natively (with its `# @judge` mocks) and
prints the request and the outcome. This test replays each request through Envoy with the
filter built from the same policies, the mock judge answering as the fixture says, and checks
what the client got and what the upstream and judge saw against that outcome. A fixture suite
that only the native engine passes fails here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from envoy import ROOT, Envoy
from helpers import REFERENCE_JUDGE, send
from mocks import MockJudge

POLICIES = ROOT / "policies"
# The judge's timeout in the reference policy is 3 s; the mock sleeps past it.
JUDGE_DELAY = 5


def native_outcomes(guardc: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(guardc), "test", str(POLICIES), "--format", "json"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, f"guardc test failed:\n{result.stdout}\n{result.stderr}"
    fixtures = json.loads(result.stdout)["fixtures"]
    assert fixtures, "no fixtures under policies/"
    return fixtures


def placeholder_secrets(fixtures: list[dict[str, Any]]) -> dict[str, str]:
    """The values `guardc test` uses for secrets (`<secret:NAME>`), so headers compare exactly."""
    names = {"dashscope_api_key", "judge_api_key"}
    for fixture in fixtures:
        for _, value in fixture["outcome"]["set_headers"]:
            names.update(part.split(">")[0] for part in value.split("<secret:")[1:])
    return {name: f"<secret:{name}>" for name in sorted(names)}


def judge_settings(mock: dict[str, Any]) -> dict[str, Any]:
    """A fixture's `@judge` answer as the mock judge's mode."""
    mode = mock["mode"]
    if mode == "unreachable":
        return {"mode": "close"}
    if mode == "timeout":
        return {"mode": "timeout", "delay": JUDGE_DELAY}
    if mode == "deny" and mock.get("reason") is None:
        return {"mode": "says", "text": json.dumps({"result": "deny"})}
    return mock


@pytest.fixture(scope="module")
def differential(guardc: Path, build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge):
    fixtures = native_outcomes(guardc)
    plugin = build_plugin(*sorted(POLICIES.glob("*.guard")))
    envoy = start_envoy(plugin, {"secrets": placeholder_secrets(fixtures)}, {REFERENCE_JUDGE: judge.port})
    return envoy, fixtures


def fixture_ids() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in POLICIES.rglob("*.http"))


@pytest.mark.parametrize("name", fixture_ids())
def test_fixture_behaves_in_envoy_as_guardc_test_says(name: str, differential, mock_upstream, mock_judge) -> None:
    envoy, fixtures = differential
    fixture = next((f for f in fixtures if f["fixture"] == name), None)
    assert fixture is not None, f"guardc test did not report {name}"
    request, outcome = fixture["request"], fixture["outcome"]
    judges = request["judges"]
    if judges:
        # The reference policy has one judge; a fixture mocks at most that one.
        (mock,) = judges.values()
        mock_judge.next(**judge_settings(mock))

    body = request.get("body")
    body_bytes = body.encode() if body is not None else bytes(request["body_bytes"])
    response = send(
        envoy,
        body_bytes if (body_bytes or request["method"] not in ("GET", "HEAD")) else None,
        host=request["authority"],
        path=request["path"],
        method=request["method"],
        headers=[(n, v) for n, v in request["headers"]],
    )

    asked = mock_judge.requests
    assert len(asked) == len(outcome["judges"]), f"judge asked {len(asked)} times, guardc test says {len(outcome['judges'])}"

    if outcome["verdict"] == "deny":
        deny = outcome["deny"]
        assert response.status == deny["status"], response.body
        assert response.body == deny["body"].encode(), "the client's error differs from guardc test's"
        assert mock_upstream.requests == [], "a denied request reached the upstream"
        for partial in mock_upstream.partial:
            assert not partial.get("body"), "a denied request's body reached the upstream"
    else:
        assert response.status == 200, response.body
        (seen,) = mock_upstream.requests
        headers = seen["headers"]
        for name_, value in outcome["set_headers"]:
            assert [v for k, v in headers if k == name_] == [value], f"header {name_}"
        for removed in outcome["remove_headers"]:
            assert not [v for k, v in headers if k == removed], f"header {removed} was not removed"
        if outcome["policy"] is None:
            sent = {n.lower(): v for n, v in request["headers"]}
            assert [v for k, v in headers if k == "authorization"] == ([sent["authorization"]] if "authorization" in sent else [])
        assert seen["body"].encode() == body_bytes
