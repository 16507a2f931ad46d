"""Envoy for the end-to-end tests: the configuration templates and the process.

The bootstrap has static clusters (the mock upstream, and one cluster per judge, named as the
policy's judge names it, e.g. `outbound|80||guard-llm.internal`) and takes its one listener from a
file through LDS, so a test can change the plugin configuration of a running Envoy the way Istio
does (replace the file; Envoy watches the directory).

Everything listens on 127.0.0.1. The admin port is chosen by Envoy (port 0, reported through
--admin-address-path); the listener port is picked free just before start. The Envoy binary is
scripts/setup's `.venv/bin/envoy` unless GUARD_E2E_ENVOY names another.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENVOY = Path(os.environ.get("GUARD_E2E_ENVOY", ROOT / ".venv" / "bin" / "envoy"))
UPSTREAM_CLUSTER = "mock_upstream"
# The listener buffer limit `guardc build`'s EnvoyFilter sets (guard's 8 MiB body limit plus
# 1 MiB): an approved body is handed back to Envoy whole, and Envoy answers its own 413 for a body
# larger than this limit. e2e/test_deploy.py checks the manifests say the same.
GUARD_BUFFER_LIMIT = 9 << 20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster(name: str, port: int, timeout: str = "1s") -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}
            ],
        },
    }


def shipped_stats_config(wasm: Path) -> dict[str, Any] | None:
    """The `stats_config` `guardc build` wrote beside this plugin (`envoy-stats.yaml`), if any:
    the metric labels users get, so the tests scrape what a deployment would."""
    path = wasm.parent / "envoy-stats.yaml"
    if not path.exists():
        return None
    import yaml  # PyYAML, from scripts/requirements.txt

    return yaml.safe_load(path.read_text())["stats_config"]


# What the access log line of each request shows: the guard's field beside Envoy's own.
ACCESS_LOG_FORMAT = "%REQ(X-REQUEST-ID)% %REQ(:AUTHORITY)% %RESPONSE_CODE% guard=[%FILTER_STATE(wasm.guard:PLAIN)%]\n"


def bootstrap(work: Path, upstream_port: int, judge_clusters: dict[str, int], stats_config: dict[str, Any] | None = None) -> dict[str, Any]:
    clusters = [_cluster(UPSTREAM_CLUSTER, upstream_port)]
    clusters += [_cluster(name, port) for name, port in judge_clusters.items()]
    document = {
        # LDS from a file needs a node identity.
        "node": {"id": "guard-e2e", "cluster": "guard-e2e"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": str(work / "lds.json"), "watched_directory": {"path": str(work)}},
            }
        },
        "static_resources": {"clusters": clusters},
    }
    if stats_config is not None:
        document["stats_config"] = stats_config
    return document


def listener(
    port: int,
    wasm: Path,
    plugin_config: Any,
    code: dict[str, Any] | None = None,
    allow_on_headers_stop_iteration: bool = True,
    buffer_limit: int | None = GUARD_BUFFER_LIMIT,
    wasm_config: dict[str, Any] | None = None,
    access_log: Path | None = None,
) -> dict[str, Any]:
    """The guard's listener; `code` replaces the default `{"local": {"filename": wasm}}`.

    `allow_on_headers_stop_iteration` and `buffer_limit` (the listener's
    `per_connection_buffer_limit_bytes`; None keeps Envoy's default 1 MiB) are what `guardc
    build`'s EnvoyFilter deploys; a test changes them to see what a deployment without them does.
    WebSocket upgrades are enabled, so that only the guard stands between a client and a tunnel.
    `wasm_config` replaces the whole Wasm PluginConfig (a deployment's own, as guardc wrote it).
    """
    configuration = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
    wasm_filter = {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "guard",
                "allow_on_headers_stop_iteration": allow_on_headers_stop_iteration,
                "vm_config": {
                    "vm_id": "guard",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": code or {"local": {"filename": str(wasm)}},
                },
                # Istio's pluginConfig arrives the same way: a JSON string.
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
            },
        },
    }
    if wasm_config is not None:
        wasm_filter["typed_config"]["config"] = wasm_config
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "guard_e2e",
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "route_config": {
            "name": "all",
            "virtual_hosts": [
                {
                    "name": "all",
                    # Every host, dashscope.aliyuncs.com included, reaches the mock upstream.
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": UPSTREAM_CLUSTER, "timeout": "15s"}}],
                }
            ],
        },
        "http_filters": [wasm_filter, router],
    }
    if access_log is not None:
        manager["access_log"] = [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": str(access_log),
                    "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}},
                },
            }
        ]
    document = {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "guard",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }
    if buffer_limit is not None:
        document["per_connection_buffer_limit_bytes"] = buffer_limit
    return document


def _wait_for(read: Any, text: str, timeout: float, what: str) -> str:
    """What `read()` returns, once it contains `text` (Envoy writes its logs asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = read()
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {what}:\n{read()[-3000:]}")


@dataclass
class Envoy:
    """One Envoy process with the guard plugin."""

    work: Path
    wasm: Path
    plugin_config: Any
    upstream_port: int
    judge_clusters: dict[str, int]
    code: dict[str, Any] | None = None
    allow_on_headers_stop_iteration: bool = True
    buffer_limit: int | None = GUARD_BUFFER_LIMIT
    wasm_config: dict[str, Any] | None = None
    # Opt-in: "debug" shows the plugin's audit lines (`guard-audit ...`).
    wasm_log_level: str = "info"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    admin: str = ""
    version: int = 0

    @property
    def log_path(self) -> Path:
        return self.work / "envoy.log"

    @property
    def access_log_path(self) -> Path:
        return self.work / "access.log"

    def access_log(self) -> str:
        return self.access_log_path.read_text(errors="replace") if self.access_log_path.exists() else ""

    def wait_for_access_log(self, text: str, timeout: float = 10.0) -> str:
        """The access log, once it contains `text`."""
        return _wait_for(self.access_log, text, timeout, "the access log")

    def prometheus(self) -> str:
        """Envoy's `/stats/prometheus`, as a scraper reads it."""
        with urllib.request.urlopen(self.admin + "/stats/prometheus", timeout=5) as r:
            return r.read().decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The log, once it contains `text`."""
        return _wait_for(self.log, text, timeout, "the Envoy log")

    def _write_lds(self, plugin_config: Any) -> None:
        self.version += 1
        document = {"version_info": str(self.version), "resources": [listener(self.port, self.wasm, plugin_config, self.code, self.allow_on_headers_stop_iteration, self.buffer_limit, self.wasm_config, self.access_log_path)]}
        staging = self.work / "lds.json.new"
        staging.write_text(json.dumps(document, indent=1))
        # Envoy watches the directory for a rename onto the file (how Kubernetes swaps ConfigMaps).
        os.replace(staging, self.work / "lds.json")

    def start(self, expect_listener: bool = True, timeout: float = 30.0) -> "Envoy":
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "bootstrap.json").write_text(
            json.dumps(bootstrap(self.work, self.upstream_port, self.judge_clusters, shipped_stats_config(self.wasm)), indent=1)
        )
        self._write_lds(self.plugin_config)
        admin_path = self.work / "admin.address"
        command = [
            str(ENVOY),
            "-c", str(self.work / "bootstrap.json"),
            "--use-dynamic-base-id",
            "--concurrency", "2",
            "-l", "warning",
            # The plugin's own lines (denials, configuration) are logged at info.
            "--component-log-level", f"wasm:{self.wasm_log_level}",
            "--log-path", str(self.log_path),
            # Flush the log file often (default: every 10 s), so tests can read what just happened.
            "--file-flush-interval-msec", "50",
            "--admin-address-path", str(admin_path),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EnvoyExited(self.process.returncode, self.log())
            if admin_path.exists() and admin_path.read_text().strip():
                self.admin = "http://" + admin_path.read_text().strip()
                if self.ready() and (not expect_listener or self.listening()):
                    return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"Envoy did not become ready in {timeout}s; log:\n{self.log()[-4000:]}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.admin + "/ready", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.admin + "/stats?format=json", timeout=5) as r:
            doc = json.load(r)
        return {s["name"]: s["value"] for s in doc.get("stats", []) if "value" in s}

    def stat(self, name: str) -> int:
        return int(self.stats().get(name, 0))

    def update_config(self, plugin_config: Any, timeout: float = 15.0) -> bool:
        """Replaces the plugin configuration through LDS; True if Envoy took it, False if it refused it."""
        success = self.stat("listener_manager.lds.update_success")
        rejected = self.stat("listener_manager.lds.update_rejected")
        self._write_lds(plugin_config)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stat("listener_manager.lds.update_rejected") > rejected:
                return False
            if self.stat("listener_manager.lds.update_success") > success:
                # The new filter chain serves new connections once the listener is warm.
                self._wait_warm(deadline)
                return True
            time.sleep(0.05)
        raise TimeoutError("Envoy neither took nor refused the new listener configuration")

    def _wait_warm(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.stat("listener_manager.total_listeners_warming") == 0 and self.listening():
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Envoy runs in its own session; signal only the process we started.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class EnvoyExited(RuntimeError):
    def __init__(self, returncode: int, log: str) -> None:
        super().__init__(f"Envoy exited with status {returncode}; log:\n{log[-4000:]}")
        self.returncode = returncode
        self.log = log
