#!/usr/bin/env python3
"""Envoy load benchmark: what the guard costs in requests per second, against Envoy without a
filter and against the floor of any body-inspecting Wasm filter.

One Envoy (scripts/setup's .venv/bin/envoy, 1.40) on 127.0.0.1 only, with:
  - an upstream listener answering every request itself (`direct_response`, a small chat
    completion), so the upstream costs as little as possible and the same for every front;
  - a judge listener answering {"result": "allow"} the same way (the reference policy escalates
    every benign request to its judge);
  - one front listener per configuration, routing to the upstream listener, each Wasm filter with
    allow_on_headers_stop_iteration as guardc build deploys it:
      none        no filter;
      floor       bench/floor-filter: buffer the body, search it for one literal;
      dashscope   guard with policies/dashscope.guard (keyword, regex, judge);
      large       guard with bench/policies/large.guard (1,000 keywords, 50 regexes);
      dictionary  guard with bench/policies/dictionary.guard (20,000 keywords);
      inject-only guard with bench/policies/inject-only.guard (the key injection and one
                  keyword: the guard's fixed cost per request);
      X-nohold    guard X with "hold_request_headers": false (the WasmPlugin deployment: the
                  head goes upstream first), e.g. large-nohold: what holding the head costs;
      floor+X     with --probes: the floor plus one piece of the guard's host work per request
                  (X = reads: five header reads by name; pairs: one read of all headers; set:
                  one header replaced; metric: one counter incremented);
      probe-X     with --probe-builds: the guard with inject-only's policy, built with
                  GUARD_FILTER_PROBE=X (filter/src/probe.rs), which skips one stage of every
                  request (X = bare: everything, the module alone; noinspect: extraction and
                  scan; extractonly: the decision after extraction; notelemetry: metrics and
                  the property): each stage's price is its difference to inject-only.
      NAME        with --module NAME=PATH: the guard plugin.wasm at PATH (another commit's
                  `guardc build`, say), for a before/after of two builds in one Envoy.
wrk posts a benign ~3 KB OpenAI chat body (bench/src/corpus.rs; with --numbers, the one with
numbers in a sentence in four, which runs the number-like patterns' regexes) with Host
dashscope.aliyuncs.com, in alternating rounds (every front once per round), and the table gives
requests/s (mean over rounds), p50 and p99 latency (median over rounds), the ratios to `none`
and to `floor` (median over rounds of the ratio within a round; fronts run in a new shuffled
order every round), and Envoy's own CPU time per request (user + system of the Envoy process over a
round, from /proc, divided by the round's requests; median over rounds), which does not count
wrk's share of the two cores; it falls as throughput rises (more requests per event-loop wakeup),
so compare it between fronts of one run only. Bounded: rounds x fronts x duration, then Envoy is
stopped.

  bench/envoy-load.py [--rounds 3] [--duration 10] [--threads 2] [--connections 32]
                      [--concurrency 2] [--fronts none,floor,...] [--probes] [--probe-builds]
                      [--numbers] [--module NAME=PATH ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import random
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVOY = Path(os.environ.get("GUARD_E2E_ENVOY", ROOT / ".venv" / "bin" / "envoy"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
HOST = "dashscope.aliyuncs.com"
POLICIES = {
    "dashscope": ROOT / "policies" / "dashscope.guard",
    "large": ROOT / "bench" / "policies" / "large.guard",
    "dictionary": ROOT / "bench" / "policies" / "dictionary.guard",
    "inject-only": ROOT / "bench" / "policies" / "inject-only.guard",
}
SECRETS = {"dashscope_api_key": "sk-bench-upstream", "judge_api_key": "sk-bench-judge", "api_key": "sk-bench"}
FRONTS = ["none", "floor", "inject-only", "dashscope", "large", "dictionary"]
UPSTREAM_ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "model": "qwen-plus",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure."}, "finish_reason": "stop"}],
})
JUDGE_ANSWER = json.dumps({
    "choices": [{"message": {"role": "assistant", "content": json.dumps({"result": "allow", "reason": "fine"})}}],
})


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROBE_BUILDS = ["bare", "noinspect", "extractonly", "notelemetry"]


def probe_build(work: Path, probe: str) -> Path:
    """plugin.wasm of the inject-only policy in a filter built with GUARD_FILTER_PROBE=probe."""
    target = TARGET / f"probe-{probe}"
    run(["cargo", "build", "--profile", "filter", "-q", "-p", "guard-filter", "--target", "wasm32-unknown-unknown",
         "--target-dir", str(target)], env=os.environ | {"GUARD_FILTER_PROBE": probe})
    out = work / f"probe-{probe}"
    run([str(TARGET / "release" / "guardc"), "build", str(POLICIES["inject-only"]), "-o", str(out), "--filter",
         str(target / "wasm32-unknown-unknown" / "filter" / "guard_filter.wasm")], stdout=subprocess.DEVNULL)
    return out / "plugin.wasm"


def build(work: Path, probes: list[str], numbers: bool) -> dict[str, Path]:
    """The Wasm modules of each front, and the request body."""
    run(["cargo", "build", "--release", "-q", "-p", "guardc", "-p", "guard-bench"])
    run(["cargo", "build", "--release", "-q", "-p", "guard-bench-floor-filter", "--target", "wasm32-unknown-unknown"])
    modules = {"floor": TARGET / "wasm32-unknown-unknown" / "release" / "guard_bench_floor_filter.wasm"}
    for name, policy in POLICIES.items():
        out = work / name
        run([str(TARGET / "release" / "guardc"), "build", str(policy), "-o", str(out)], stdout=subprocess.DEVNULL)
        modules[name] = out / "plugin.wasm"
    for probe in probes:
        modules[f"probe-{probe}"] = probe_build(work, probe)
    body = run([str(TARGET / "release" / "chat-body"), "3000"] + (["--numbers"] if numbers else []),
               stdout=subprocess.PIPE).stdout
    (work / "body.json").write_bytes(body)
    return modules


def direct(name: str, port: int, body: str) -> dict:
    return listener(name, port, [], {"direct_response": {"status": 200, "body": {"inline_string": body}}})


def listener(name: str, port: int, filters: list[dict], action: dict) -> dict:
    router = {"name": "envoy.filters.http.router",
              "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"],
                                                            "routes": [{"match": {"prefix": "/"}, **action}]}]},
        "http_filters": filters + [router],
    }
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}]}


def wasm_filter(name: str, module: Path, configuration: dict | None = None) -> dict:
    return {"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        # As guardc build deploys it: the filter may hold the request head while it reads the
        # body (the guard's default, hold_request_headers); the floor filter never pauses its head.
        "config": {"name": name, "allow_on_headers_stop_iteration": True,
                   "vm_config": {"vm_id": name, "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": str(module)}}},
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                     "value": json.dumps(configuration or {"secrets": SECRETS})}}}}


def cluster(name: str, port: int) -> dict:
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def start_envoy(work: Path, modules: dict[str, Path], fronts: list[str], concurrency: int):
    upstream, judge = free_port(), free_port()
    ports = {front: free_port() for front in fronts}
    listeners = [direct("upstream", upstream, UPSTREAM_ANSWER), direct("judge", judge, JUDGE_ANSWER)]
    for front in fronts:
        if front.startswith("floor+"):
            # A probe: the floor plus one piece of the guard's host work (bench/floor-filter).
            filters = [wasm_filter(front, modules["floor"], {"probes": front.removeprefix("floor+")})]
        elif front.endswith("-nohold"):
            # The guard with hold_request_headers off (the WasmPlugin deployment): headers first.
            base = front.removesuffix("-nohold")
            filters = [wasm_filter(front, modules[base], {"secrets": SECRETS, "hold_request_headers": False})]
        else:
            filters = [] if front == "none" else [wasm_filter(front, modules[front])]
        listeners.append(listener(front, ports[front], filters, {"route": {"cluster": "upstream", "timeout": "15s"}}))
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": listeners,
                             "clusters": [cluster("upstream", upstream), cluster("outbound|80||guard-llm.internal", judge)]},
    }
    (work / "bootstrap.json").write_text(json.dumps(bootstrap, indent=1))
    admin_path = work / "admin.address"
    process = subprocess.Popen(
        [str(ENVOY), "-c", str(work / "bootstrap.json"), "--use-dynamic-base-id", "--concurrency", str(concurrency),
         "-l", "warning", "--log-path", str(work / "envoy.log"), "--admin-address-path", str(admin_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"envoy exited: {(work / 'envoy.log').read_text()[-3000:]}")
        if admin_path.exists() and admin_path.read_text().strip():
            try:
                with urllib.request.urlopen(f"http://{admin_path.read_text().strip()}/ready", timeout=1) as r:
                    if r.status == 200:
                        return process, ports
            except OSError:
                pass
        time.sleep(0.1)
    stop(process)
    raise SystemExit("envoy did not become ready")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def check(port: int, body: bytes, front: str) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/compatible-mode/v1/chat/completions", data=body,
                                     headers={"Host": HOST, "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        answer = r.read()
        if r.status != 200 or b"chatcmpl-bench" not in answer:
            raise SystemExit(f"{front}: unexpected answer {r.status} {answer[:200]!r}")


LUA = """
wrk.method = "POST"
wrk.headers["Host"] = "%s"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("%s", "rb")
wrk.body = f:read("*a")
f:close()
"""


def unit(value: str, suffix: str) -> float:
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    return float(value) * scale[suffix]


def wrk(port: int, script: Path, args) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}/compatible-mode/v1/chat/completions"],
        check=True, capture_output=True, text=True, timeout=args.duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {p: unit(v, u) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": requests, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else None}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=2, help="Envoy worker threads")
    parser.add_argument("--fronts", default=",".join(FRONTS))
    parser.add_argument("--probes", action="store_true",
                        help="add floor+reads, floor+pairs, floor+set, floor+metric: the floor plus one piece "
                             "of the guard's per-request host work each")
    parser.add_argument("--probe-builds", action="store_true",
                        help="add probe-bare, probe-noinspect, probe-extractonly, probe-notelemetry: the guard with "
                             "inject-only's policy built to skip one stage each (and inject-only itself)")
    parser.add_argument("--numbers", action="store_true",
                        help="post the chat body with numbers (bench/src/corpus.rs numbered_chat_body)")
    parser.add_argument("--module", action="append", default=[], metavar="NAME=PATH",
                        help="one more guard front: the plugin.wasm at PATH (e.g. another commit's build)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    fronts = args.fronts.split(",")
    if args.probes:
        fronts += ["floor+reads", "floor+pairs", "floor+set", "floor+metric"]
    if args.probe_builds:
        if "inject-only" not in fronts:
            fronts.append("inject-only")
        fronts += [f"probe-{probe}" for probe in PROBE_BUILDS]
    with tempfile.TemporaryDirectory(prefix="guard-envoy-load-") as tmp:
        work = Path(tmp)
        modules = build(work, PROBE_BUILDS if args.probe_builds else [], args.numbers)
        for spec in args.module:
            name, _, path = spec.partition("=")
            modules[name] = Path(path).resolve()
            if name not in fronts:
                fronts.append(name)
        body = (work / "body.json").read_bytes()
        script = work / "post.lua"
        script.write_text(LUA % (HOST, work / "body.json"))
        process, ports = start_envoy(work, modules, fronts, args.concurrency)
        results: dict[str, list[dict]] = {front: [] for front in fronts}
        try:
            for front in fronts:
                check(ports[front], body, front)
            print(f"body {len(body)} bytes; {args.rounds} rounds x {len(fronts)} fronts x {args.duration} s, "
                  f"wrk -t{args.threads} -c{args.connections}, envoy --concurrency {args.concurrency}; "
                  f"load before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
            order = list(fronts)
            for round_ in range(args.rounds):
                # A new order every round: the machine drifts within a round (the first front
                # of a round was measured fastest), and a fixed order would bias the ratios.
                random.Random(round_).shuffle(order)
                for front in order:
                    before = cpu_seconds(process.pid)
                    r = wrk(ports[front], script, args)
                    r["cpu_us"] = (cpu_seconds(process.pid) - before) * 1e6 / max(r["requests"], 1)
                    results[front].append(r)
                    print(f"round {round_ + 1} {front:>10}: {r['rps']:9.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                          f"p99 {r['p99_ms']:.2f} ms  envoy {r['cpu_us']:.0f} us/req  non-2xx {r['non2xx']}", file=sys.stderr)
        finally:
            stop(process)
    summary = {}
    for front, rs in results.items():
        summary[front] = {
            "rps": statistics.mean(r["rps"] for r in rs),
            "rps_rounds": [round(r["rps"]) for r in rs],
            "p50_ms": statistics.median(r["p50_ms"] for r in rs),
            "p99_ms": statistics.median(r["p99_ms"] for r in rs),
            "non2xx": sum(r["non2xx"] for r in rs),
            "cpu_us": statistics.median(r["cpu_us"] for r in rs),
        }
    def ratio(front: str, base: str) -> float | None:
        """Median over rounds of the front's requests/s over the base's in the same round."""
        if base not in results:
            return None
        return statistics.median(r["rps"] / b["rps"] for r, b in zip(results[front], results[base]))

    for front, s in summary.items():
        s["vs_none"] = ratio(front, "none")
        s["vs_floor"] = ratio(front, "floor")
    floor_cpu = summary.get("floor", {}).get("cpu_us")
    print(f"\n| front | req/s (mean) | rounds | p50 ms | p99 ms | vs none | vs floor | Envoy CPU µs/req | over floor | non-2xx |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for front, s in summary.items():
        vs_none = f"{s['vs_none']:.2f}" if s["vs_none"] is not None else "-"
        vs_floor = f"{s['vs_floor']:.2f}" if s["vs_floor"] is not None else "-"
        over = f"{s['cpu_us'] - floor_cpu:+.0f}" if floor_cpu else "-"
        print(f"| {front} | {s['rps']:.0f} | {' / '.join(map(str, s['rps_rounds']))} | {s['p50_ms']:.2f} | "
              f"{s['p99_ms']:.2f} | {vs_none} | {vs_floor} | {s['cpu_us']:.0f} | {over} | {s['non2xx']} |")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
