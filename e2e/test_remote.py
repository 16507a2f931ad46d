"""Hot delivery: Envoy fetches plugin.wasm over HTTP (`vm_config.code.remote`) and checks its sha256.

This is how a module reaches a running mesh without an image pull: a loopback file server
stands in for the artifact store. A module whose checksum does not match is refused by Envoy, so
no request is served by a module other than the one the configuration names.
"""

from __future__ import annotations

import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from envoy import Envoy, EnvoyExited
from helpers import REFERENCE_JUDGE, SECRETS, chat, header_values

WASM_CLUSTER = "wasm_server"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's naming
        pass


@pytest.fixture(scope="module")
def wasm_server(reference_plugin: Path) -> Iterator[tuple[int, list[str]]]:
    """Serves the plugin's directory on loopback and records what was fetched."""
    fetched: list[str] = []

    class Recording(_Quiet):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            fetched.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Recording, directory=str(reference_plugin.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], fetched
    server.shutdown()
    server.server_close()


def remote_code(port: int, sha256: str) -> dict[str, Any]:
    return {
        "remote": {
            "http_uri": {"uri": f"http://127.0.0.1:{port}/plugin.wasm", "cluster": WASM_CLUSTER, "timeout": "10s"},
            "sha256": sha256,
            "retry_policy": {"num_retries": 1},
        }
    }


def test_module_fetched_over_http_with_its_checksum_serves(
    start_envoy: Callable[..., Envoy], reference_plugin: Path, wasm_server, judge, mock_upstream, mock_judge
) -> None:
    port, fetched = wasm_server
    sha256 = hashlib.sha256(reference_plugin.read_bytes()).hexdigest()
    envoy = start_envoy(
        reference_plugin,
        {"secrets": SECRETS},
        {REFERENCE_JUDGE: judge.port, WASM_CLUSTER: port},
        code=remote_code(port, sha256),
    )
    assert "/plugin.wasm" in fetched, "Envoy did not fetch the module over HTTP"

    denied = chat(envoy, "my QQ 账号 is 1111111")
    assert denied.status == 403, denied.body
    assert denied.error["rule"] == "account-keyword"

    allowed = chat(envoy, "Write a haiku about spring.")
    assert allowed.status == 200, allowed.body
    (seen,) = mock_upstream.requests
    assert header_values(seen, "authorization") == [f"Bearer {SECRETS['dashscope_api_key']}"]


def test_module_with_a_wrong_checksum_is_refused(
    start_envoy: Callable[..., Envoy], reference_plugin: Path, wasm_server, judge, mock_upstream, mock_judge
) -> None:
    port, fetched = wasm_server
    fetched.clear()
    wrong = hashlib.sha256(b"not the module").hexdigest()
    try:
        envoy = start_envoy(
            reference_plugin,
            {"secrets": SECRETS},
            {REFERENCE_JUDGE: judge.port, WASM_CLUSTER: port},
            expect_listener=False,
            code=remote_code(port, wrong),
        )
    except EnvoyExited as exited:
        assert "failed to load" in exited.log
        return
    # Envoy fetched the module (the same URL serves in the test above) and refused it.
    envoy.wait_for_log("Plugin guard failed to load", timeout=30)
    assert "/plugin.wasm" in fetched
    if envoy.listening():
        # The plugin fails closed: nothing reaches the upstream without the guard.
        response = chat(envoy, "Write a haiku about spring.")
        assert response.status >= 500, response.body
        assert mock_upstream.requests == []
        assert mock_judge.requests == []
