"""The plugin configuration: secrets are checked at configuration time, and change without a rebuild.

Envoy refuses a configuration whose `on_configure` fails: at start-up the listener never serves;
on an update through LDS the update is rejected (`listener_manager.lds.update_rejected`) and the
previous configuration keeps serving.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envoy import ROOT, EnvoyExited
from helpers import REFERENCE_JUDGE, SECRETS, chat, header_values

REJECTED = "guard: configuration rejected: "


def test_missing_secret_rejects_the_configuration(start_envoy, reference_plugin, judge):
    secrets = {"dashscope_api_key": SECRETS["dashscope_api_key"]}
    try:
        envoy = start_envoy(reference_plugin, {"secrets": secrets}, {REFERENCE_JUDGE: judge.port}, expect_listener=False)
    except EnvoyExited as exited:
        assert REJECTED + "secret `judge_api_key` is missing" in exited.log
        return
    log = envoy.wait_for_log(REJECTED + "secret `judge_api_key` is missing")
    assert SECRETS["dashscope_api_key"] not in log
    assert envoy.stat("listener_manager.lds.update_rejected") >= 1
    # Nothing serves: no request can go out without its key.
    assert not envoy.listening()


@pytest.fixture
def rotating_envoy(start_envoy, reference_plugin, judge):
    return start_envoy(reference_plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: judge.port})


def upstream_key(envoy, mock_upstream) -> str:
    mock_upstream.reset()
    response = chat(envoy, "Write a haiku about tea.")
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    [value] = header_values(request, "authorization")
    return value


def test_new_secret_takes_effect_without_rebuild(rotating_envoy, mock_upstream, mock_judge):
    assert upstream_key(rotating_envoy, mock_upstream) == f"Bearer {SECRETS['dashscope_api_key']}"
    rotated = dict(SECRETS, dashscope_api_key="sk-e2e-rotated-0c4d2e")
    assert rotating_envoy.update_config({"secrets": rotated}) is True
    assert upstream_key(rotating_envoy, mock_upstream) == "Bearer sk-e2e-rotated-0c4d2e"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"secrets": {"dashscope_api_key": "sk-e2e-new-a1"}}, "secret `judge_api_key` is missing"),
        ({"secrets": dict(SECRETS, dashscope_api_key="sk-e2e-new-a1\n")}, "secret `dashscope_api_key` contains a line break"),
        ({"secrets": dict(SECRETS, dashscope_api_key="sk-e2e-new-a1\r\nX-Evil: 1")}, "contains a line break"),
        ({"secrets": dict(SECRETS, dashscope_api_key="")}, "secret `dashscope_api_key` is empty"),
        ({"secrets": SECRETS, "secret": {"x": "sk-e2e-new-a1"}}, "unknown field `secret`"),
        ({"secrets": "sk-e2e-new-a1"}, "`secrets` must be an object"),
        ('{"secrets": {"dashscope_api_key": "sk-e2e-new-a1"', "not valid JSON"),
    ],
    ids=["missing", "trailing-newline", "header-injection", "empty", "unknown-field", "not-an-object", "bad-json"],
)
def test_bad_update_is_rejected_and_the_previous_one_keeps_serving(rotating_envoy, mock_upstream, mock_judge, config, message):
    assert rotating_envoy.update_config(config) is False
    log = rotating_envoy.wait_for_log(REJECTED)
    assert message in log
    # No value of the refused configuration reaches the log.
    assert "sk-e2e-new-a1" not in log
    assert upstream_key(rotating_envoy, mock_upstream) == f"Bearer {SECRETS['dashscope_api_key']}"


def bare_filter() -> Path | None:
    for candidate in (
        ROOT / "target" / "filter-wasm" / "wasm32-unknown-unknown" / "filter" / "guard_filter.wasm",
        ROOT / "target" / "wasm32-unknown-unknown" / "filter" / "guard_filter.wasm",
    ):
        if candidate.is_file():
            return candidate
    return None


def test_module_without_a_bundle_is_rejected(start_envoy, judge):
    # The filter as the compiler leaves it, before `guardc build` embeds a bundle.
    wasm = bare_filter()
    if wasm is None:
        pytest.skip("no bare guard_filter.wasm under target/ (built by guardc's build script or scripts/build-filter)")
    try:
        envoy = start_envoy(wasm, {"secrets": SECRETS}, {REFERENCE_JUDGE: judge.port}, expect_listener=False)
    except EnvoyExited as exited:
        assert REJECTED + "this module carries no policy bundle" in exited.log
        return
    envoy.wait_for_log(REJECTED + "this module carries no policy bundle")
    assert not envoy.listening()


def test_configuration_is_a_json_string_like_istio_plugin_config(start_envoy, reference_plugin, judge, mock_upstream, mock_judge):
    # Istio hands pluginConfig over as JSON text with arbitrary formatting and key order.
    text = json.dumps({"secrets": dict(reversed(list(SECRETS.items())))}, indent=4)
    envoy = start_envoy(reference_plugin, text, {REFERENCE_JUDGE: judge.port})
    assert upstream_key(envoy, mock_upstream) == f"Bearer {SECRETS['dashscope_api_key']}"
