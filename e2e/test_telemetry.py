"""What operators see, through real Envoy with the configuration `guardc build` ships: labelled
Prometheus series per policy, rule, action, mode, judge, outcome and code after a known mix of
requests (the `stats_tags` of `envoy-stats.yaml`, which e2e/envoy.py loads from the build), the
access-log field on every guarded request, and the request id in a deny's body.

The Envoy runs the example policies together (`policies/*.guard`), a fresh one for this module,
so every count starts at zero.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Callable

import pytest

from envoy import ROOT, Envoy
from helpers import REFERENCE_JUDGE, send
from mocks import MockJudge

OPENAI = "api.openai.com"
PATH = "/v1/chat/completions"
SERIES = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


@pytest.fixture(scope="module")
def telemetry_envoy(build_plugin: Callable[..., Path], start_envoy: Callable[..., Envoy], judge: MockJudge) -> Envoy:
    plugin = build_plugin(*sorted((ROOT / "policies").glob("*.guard")))
    assert (plugin.parent / "envoy-stats.yaml").exists(), "guardc build ships the stats tags"
    secrets = {
        "openai_api_key": "sk-e2e-openai-93c1d7",
        "anthropic_api_key": "sk-e2e-anthropic-51f0",
        "dashscope_api_key": "sk-e2e-dashscope-7f3a9c51",
        "judge_api_key": "jk-e2e-judge-41b2d8e6",
    }
    return start_envoy(plugin, {"secrets": secrets}, {REFERENCE_JUDGE: judge.port})


def series(envoy: Envoy, family: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of one metric family, by their labels."""
    found: dict[frozenset[tuple[str, str]], float] = {}
    for line in envoy.prometheus().splitlines():
        match = SERIES.match(line)
        if not match or match["name"] != family:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        found[labels] = float(match["value"])
    return found


def value(envoy: Envoy, family: str, **labels: str) -> float:
    return series(envoy, family).get(frozenset(labels.items()), 0.0)


def chat(envoy: Envoy, text: str, request_id: str, body: bytes | None = None):
    payload = body if body is not None else json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()
    return send(envoy, payload, host=OPENAI, path=PATH, headers=[("x-request-id", request_id)])


def test_a_known_mix_gives_labelled_series_access_log_lines_and_traceable_denials(telemetry_envoy, mock_upstream, mock_judge):
    envoy = telemetry_envoy
    mock_judge.next(mode="allow", rules=[{"contains": "leak-7f1e", "mode": "deny", "reason": "an internal document"}])
    statuses = {
        "benign": chat(envoy, "a haiku about rain", "tm-benign").status,
        "card": chat(envoy, "card 4111111111111111", "tm-card").status,
        "monitored": chat(envoy, "the Atlas plan", "tm-monitored").status,
        "judge-allow": chat(envoy, "polish this internal memo", "tm-judge-allow").status,
        "judge-deny": chat(envoy, "internal leak-7f1e", "tm-judge-deny").status,
        "malformed": chat(envoy, "", "tm-malformed", body=b'{"messages": [').status,
    }
    assert statuses == {"benign": 200, "card": 403, "monitored": 200, "judge-allow": 200, "judge-deny": 403, "malformed": 400}

    family = "guard_rule_matches"
    assert value(envoy, family, policy="pii", rule="card-number", action="deny", mode="enforce") == 1
    assert value(envoy, family, policy="pii", rule="new-codenames", action="deny", mode="monitor") == 1
    assert value(envoy, family, policy="pii", rule="internal-review", action="escalate", mode="enforce") == 2
    assert value(envoy, "guard_judge_calls", judge="privacy", outcome="allow") == 1
    assert value(envoy, "guard_judge_calls", judge="privacy", outcome="deny") == 1
    # Histograms reach the admin output when Envoy merges them (its stats flush, every 5 s).
    deadline = time.monotonic() + 12
    while value(envoy, "guard_judge_latency_ms_count", judge="privacy") < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert value(envoy, "guard_judge_latency_ms_count", judge="privacy") == 2
    assert value(envoy, "guard_refusals", code="malformed_json") == 1
    assert value(envoy, "guard_requests_seen", policy="pii") == 6
    assert value(envoy, "guard_requests_passed", policy="pii") == 3
    assert value(envoy, "guard_requests_seen", policy="openai-key") == 6
    (bundle,) = series(envoy, "guard_bundle_info")
    assert dict(bundle)["bundle"] and re.fullmatch(r"[0-9a-f]{12}", dict(bundle)["bundle"])

    # The access log line of each request, with the guard's field and never prompt text.
    log = envoy.wait_for_access_log("tm-malformed")
    lines = {line.split(" ", 1)[0]: line for line in log.splitlines() if line.startswith("tm-")}
    policies = "pii,openai-key,openai-projects"
    assert f"guard=[verdict=allow policy={policies} rule=- mode=- code=-]" in lines["tm-benign"]
    assert f"guard=[verdict=deny policy=pii rule=card-number mode=enforce code=guard.rule_denied]" in lines["tm-card"]
    assert f"guard=[verdict=allow policy={policies} rule=- mode=- code=- monitored=new-codenames]" in lines["tm-monitored"]
    assert "guard=[verdict=deny policy=pii rule=internal-review mode=enforce code=guard.judge_denied]" in lines["tm-judge-deny"]
    assert "verdict=refuse" in lines["tm-malformed"] and "code=guard.malformed_json" in lines["tm-malformed"]
    for marker in ("4111111111111111", "Atlas", "leak-7f1e", "haiku"):
        assert marker not in log


def test_a_deny_carries_the_request_id_and_bundle(telemetry_envoy, mock_upstream):
    response = chat(telemetry_envoy, "card 4111111111111111", "trace-me-42")
    assert response.status == 403
    error = response.json()["error"]
    assert error["request_id"] == "trace-me-42"
    assert re.fullmatch(r"[0-9a-f]{12}", error["bundle"])
    assert response.headers.get("x-request-id") == "trace-me-42"
    (bundle,) = series(telemetry_envoy, "guard_bundle_info")
    assert dict(bundle)["bundle"] == error["bundle"]


def test_every_metric_the_dashboard_and_alerts_query_is_one_envoy_exports(telemetry_envoy):
    """The shipped Grafana dashboard and alert rules parse, and every guard metric their queries
    name is a series this Envoy exports (after the mix above, every family has a sample)."""
    import yaml

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "guard.json").read_text())
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "guard-alerts.yaml").read_text())
    queries: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key in ("expr", "query", "definition") and isinstance(item, str):
                    queries.append(item)
                collect(item)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(dashboard)
    collect(alerts)
    assert len(queries) > 10
    named = {name for query in queries for name in re.findall(r"(?<![A-Za-z0-9_])guard_[a-z_]+", query)}
    exported = {match["name"] for line in telemetry_envoy.prometheus().splitlines() if (match := SERIES.match(line))}
    missing = sorted(named - exported)
    assert not missing, f"queried but not exported: {missing}"
