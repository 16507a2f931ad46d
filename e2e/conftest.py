"""Fixtures for the end-to-end tests: guardc-built plugins, mock servers, and Envoy processes.

The session builds `plugin.wasm` with `guardc build POLICY -o DIR` exactly as a policy author
would (set GUARDC to use a prebuilt guardc instead of `cargo build -p guardc`), starts a mock
upstream LLM and a mock judge on 127.0.0.1, and starts Envoy processes with the plugin. The
reference Envoy (policies/dashscope.guard, judge up) is shared by the whole session; tests that
need another policy, another judge or another configuration start their own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import http.client
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from envoy import ENVOY, GUARD_BUFFER_LIMIT, ROOT, Envoy
from mocks import MockJudge, MockUpstream

from helpers import FAIL_OPEN_JUDGE, FAIL_OPEN_POLICY, REFERENCE_JUDGE, REFERENCE_POLICY, SECRETS, closed_port

def pytest_sessionstart(session: pytest.Session) -> None:
    if not ENVOY.exists():
        raise pytest.UsageError(f"{ENVOY} not found: run scripts/setup")


@pytest.fixture(scope="session")
def guardc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("GUARDC"):
        return Path(os.environ["GUARDC"])
    subprocess.run(["cargo", "build", "--quiet", "-p", "guardc"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    # A private copy: another cargo build in the same target directory must not swap the binary
    # between two steps of one session (two builds compared for reproducibility, say).
    private = tmp_path_factory.mktemp("bin") / "guardc"
    shutil.copy2(target / "debug" / "guardc", private)
    return private


@pytest.fixture(scope="session")
def build_plugin(guardc: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`guardc build POLICY... -o DIR`, once per set of policies; returns DIR/plugin.wasm."""
    built: dict[tuple[Path, ...], Path] = {}

    def build(*policies: Path) -> Path:
        key = tuple(policies)
        if key not in built:
            out = tmp_path_factory.mktemp("plugin")
            result = subprocess.run(
                [str(guardc), "build", *map(str, policies), "-o", str(out)], capture_output=True, text=True
            )
            assert result.returncode == 0, f"guardc build failed:\n{result.stdout}\n{result.stderr}"
            built[key] = out / "plugin.wasm"
            assert built[key].is_file(), f"guardc build wrote no plugin.wasm into {out}"
        return built[key]

    return build


@pytest.fixture(scope="session")
def upstream() -> Iterator[MockUpstream]:
    server = MockUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def judge() -> Iterator[MockJudge]:
    server = MockJudge().start()
    yield server
    server.stop()


class Mock:
    """Talks to a mock server through its control endpoints, as to any outside service."""

    def __init__(self, port: int) -> None:
        self.port = port

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None, {"content-type": "application/json"})
            response = conn.getresponse()
            return json.loads(response.read())
        finally:
            conn.close()

    def next(self, **settings: Any) -> None:
        self._call("POST", "/__mock/next", settings)

    def reset(self) -> None:
        self._call("POST", "/__mock/reset", {})

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/__mock/requests")["requests"]

    @property
    def partial(self) -> list[dict[str, Any]]:
        return self._call("GET", "/__mock/requests")["partial"]

    @property
    def heads(self) -> list[dict[str, Any]]:
        """Every request head received, recorded as it arrived (before its body)."""
        return self._call("GET", "/__mock/requests")["heads"]


@pytest.fixture
def mock_upstream(upstream: MockUpstream) -> Mock:
    mock = Mock(upstream.port)
    mock.reset()
    return mock


@pytest.fixture
def mock_judge(judge: MockJudge) -> Mock:
    mock = Mock(judge.port)
    mock.reset()
    return mock


@pytest.fixture(scope="session")
def start_envoy(tmp_path_factory: pytest.TempPathFactory, upstream: MockUpstream) -> Iterator[Callable[..., Envoy]]:
    """Starts an Envoy with a plugin; every one started is stopped at the end of the session."""
    started: list[Envoy] = []

    def start(
        wasm: Path,
        plugin_config: Any,
        judge_clusters: dict[str, int],
        expect_listener: bool = True,
        code: dict[str, Any] | None = None,
        allow_on_headers_stop_iteration: bool = True,
        buffer_limit: int | None = GUARD_BUFFER_LIMIT,
        wasm_config: dict[str, Any] | None = None,
        wasm_log_level: str = "info",
    ) -> Envoy:
        envoy = Envoy(
            work=tmp_path_factory.mktemp("envoy"),
            wasm=wasm,
            plugin_config=plugin_config,
            upstream_port=upstream.port,
            judge_clusters=judge_clusters,
            code=code,
            allow_on_headers_stop_iteration=allow_on_headers_stop_iteration,
            buffer_limit=buffer_limit,
            wasm_config=wasm_config,
            wasm_log_level=wasm_log_level,
        )
        started.append(envoy)
        return envoy.start(expect_listener=expect_listener)

    yield start
    for envoy in started:
        envoy.stop()


@pytest.fixture(scope="session")
def reference_plugin(build_plugin: Callable[..., Path]) -> Path:
    return build_plugin(REFERENCE_POLICY)


@pytest.fixture(scope="session")
def fail_open_plugin(build_plugin: Callable[..., Path]) -> Path:
    return build_plugin(FAIL_OPEN_POLICY)


@pytest.fixture(scope="session")
def reference_envoy(start_envoy: Callable[..., Envoy], reference_plugin: Path, judge: MockJudge) -> Envoy:
    """policies/dashscope.guard with both secrets and the mock judge behind its cluster."""
    return start_envoy(reference_plugin, {"secrets": SECRETS}, {REFERENCE_JUDGE: judge.port})


@pytest.fixture(scope="session")
def fail_open_up(start_envoy: Callable[..., Envoy], fail_open_plugin: Path, judge: MockJudge) -> Envoy:
    """e2e/policies/fail-open.guard with the mock judge behind its cluster."""
    return start_envoy(fail_open_plugin, {"secrets": SECRETS}, {FAIL_OPEN_JUDGE: judge.port})


@pytest.fixture(scope="session")
def fail_open_down(start_envoy: Callable[..., Envoy], fail_open_plugin: Path) -> Envoy:
    """e2e/policies/fail-open.guard with nothing listening behind its judge's cluster."""
    return start_envoy(fail_open_plugin, {"secrets": SECRETS}, {FAIL_OPEN_JUDGE: closed_port()})
