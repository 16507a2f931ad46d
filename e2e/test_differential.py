"""Every fixture suite through a real Envoy gives the verdicts `guardc test` gives.

`guardc test DIR --format json` evaluates each fixture natively (with its `# @judge` mocks) and
prints the request and the outcome. This test replays each request through Envoy with the
filter built from the same policies, the mock judge answering as the fixture says, and checks
what the client got and what the upstream and judge saw against that outcome. A fixture suite
that only the native engine passes fails here.

Suites: the example policies (`policies/`) and the evasion corpus (`testdata/evasion/`).
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

SUITES = [ROOT / "policies", ROOT / "testdata" / "evasion"]
# The judges' timeout in these policies is at most 3 s; the mock sleeps past it.
JUDGE_DELAY = 5


def native(guardc: Path, suite: Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(guardc), "test", str(suite), "--format", "json"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, f"guardc test {suite} failed:\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout)
    assert report["fixtures"], f"no fixtures under {suite}"
    return report


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
def suites(guardc: Path, build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge):
    """Per suite: an Envoy with the suite's policies and `guardc test`'s secret values, and the report."""
    started: dict[Path, tuple[Envoy, dict[str, Any]]] = {}

    def get(suite: Path) -> tuple[Envoy, dict[str, Any]]:
        if suite not in started:
            report = native(guardc, suite)
            plugin = build_plugin(*sorted(suite.glob("*.guard")))
            secrets = {name: f"<secret:{name}>" for name in report["secrets"]}
            envoy = start_envoy(plugin, {"secrets": secrets}, {REFERENCE_JUDGE: judge.port})
            started[suite] = (envoy, report)
        return started[suite]

    return get


def with_request_id(body: str, request_id: str | None) -> str:
    """guardc's error body with the request id Envoy gave the request (the local reply's
    `x-request-id`). A fixture with its own `x-request-id` already has it (Envoy keeps it); one
    without has `null` there (or, in Gemini's metadata, no entry before `bundle`), which becomes
    the id Envoy generated. Nothing else of the body changes, so any other difference fails."""
    assert request_id, "a local reply without x-request-id"
    doc = json.loads(body)
    quoted = json.dumps(request_id)
    if '"request_id":null' in body:
        return body.replace('"request_id":null', f'"request_id":{quoted}', 1)
    metadata = ((doc.get("error") or {}).get("details") or [{}])[0].get("metadata") if isinstance(doc.get("error"), dict) else None
    if isinstance(metadata, dict) and "request_id" not in metadata:
        return body.replace('"bundle":', f'"request_id":{quoted},"bundle":', 1)
    return body


def split_events(stream: bytes) -> list[bytes]:
    """A stream's events, each with its blank line, as an upstream writes them one by one."""
    events, rest = [], stream
    while rest:
        ends = [i for i in (rest.find(b"\n\n"), rest.find(b"\r\n\r\n")) if i >= 0]
        if not ends:
            events.append(rest)
            break
        cut = min(ends)
        cut += 4 if rest[cut:cut + 4] == b"\r\n\r\n" else 2
        events.append(rest[:cut])
        rest = rest[cut:]
    return events


def request_id_of(request: dict[str, Any]) -> str | None:
    return next((v for k, v in request["headers"] if k.lower() == "x-request-id"), None)


def cases() -> list[tuple[Path, str]]:
    return [(suite, str(p.relative_to(ROOT))) for suite in SUITES for p in sorted(suite.rglob("*.http"))]


@pytest.mark.parametrize(("suite", "name"), cases(), ids=[name for _, name in cases()])
def test_fixture_behaves_in_envoy_as_guardc_test_says(suite: Path, name: str, suites, mock_upstream, mock_judge) -> None:
    envoy, report = suites(suite)
    fixture = next((f for f in report["fixtures"] if f["fixture"] == name), None)
    assert fixture is not None, f"guardc test did not report {name}"
    request, outcome = fixture["request"], fixture["outcome"]
    judges = request["judges"]
    if judges:
        # These policies have one judge; a fixture mocks at most that one.
        (mock,) = judges.values()
        mock_judge.next(**judge_settings(mock))

    body = request.get("body")
    body_bytes = body.encode() if body is not None else bytes(request["body_bytes"])
    answer = request.get("answer")
    if answer is not None:
        # The upstream answers as the fixture says, a stream event by event.
        answer_bytes = bytes(answer["body_bytes"])
        settings = {"status": answer["status"], "content_type": answer["content_type"]}
        if (answer["content_type"] or "").startswith("text/event-stream"):
            settings["events"] = [e.hex() for e in split_events(answer_bytes)]
        else:
            settings["body_hex"] = answer_bytes.hex()
        mock_upstream.next(**settings)
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
        expected = with_request_id(deny["body"], response.headers.get("x-request-id"))
        assert json.loads(response.body) == json.loads(expected), "the client's error differs from guardc test's"
        assert response.body == expected.encode(), "the client's error differs from guardc test's (bytes)"
        assert mock_upstream.requests == [], "a denied request reached the upstream"
        for partial in mock_upstream.partial:
            assert not partial.get("body"), "a denied request's body reached the upstream"
    else:
        client = outcome.get("answer")
        if client is None:
            assert response.status == 200, response.body
        elif client["verdict"] == "deny":
            deny = client["deny"]
            assert response.status == deny["status"], response.body
            expected = with_request_id(deny["body"], response.headers.get("x-request-id") or (request_id_of(request)))
            assert json.loads(response.body) == json.loads(expected), "the client's error for the answer differs from guardc test's"
        else:
            assert response.status == client["status"], response.body
            assert response.body == bytes(client["body_bytes"]), "the client got another answer than guardc test says"
        (seen,) = mock_upstream.requests
        headers = seen["headers"]
        for header, value in outcome["set_headers"]:
            assert [v for k, v in headers if k == header] == [value], f"header {header}"
        for removed in outcome["remove_headers"]:
            assert not [v for k, v in headers if k == removed], f"header {removed} was not removed"
        if outcome["policy"] is None:
            sent = {n.lower(): v for n, v in request["headers"]}
            assert [v for k, v in headers if k == "authorization"] == ([sent["authorization"]] if "authorization" in sent else [])
        masked = outcome.get("masked")
        expected = bytes(masked["forwarded_body_bytes"]) if masked else body_bytes
        assert bytes.fromhex(seen["body_hex"]) == expected, "the upstream got another body than guardc test forwards"
        if masked:
            lengths = [v for k, v in headers if k == "content-length"]
            assert lengths in ([str(len(expected))], []), f"content-length {lengths} for a {len(expected)}-byte body"
