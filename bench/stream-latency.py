#!/usr/bin/env python3
"""The latency the guard adds to each event of a streamed answer, through a real Envoy.

One Envoy (127.0.0.1 only) runs the example policies (`policies/*.guard`), whose
`keys-in-answers` rule scans every answer to api.openai.com. The mock upstream (e2e/mocks.py)
streams a benign chat answer: EVENTS chunks of 4 to 12 characters, one every INTERVAL ms, each
its own HTTP chunk. The same stream is requested through the same Envoy twice per round: once to
`api.openai.com` (selected: the stream guard holds each event until the text after it shows no
key can start in it) and once to a host no policy selects (the filter passes it untouched).
For each event, the time from the request to its arrival at the client is taken in both; the
added latency of an event is the difference, its median over the rounds. Printed: median and p99
over the events, and how many events later than unguarded an event arrives.

    .venv/bin/python bench/stream-latency.py [--rounds 5] [--events 200] [--interval 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))

from envoy import Envoy  # noqa: E402
from mocks import MockUpstream  # noqa: E402

SECRETS = {
    "openai_api_key": "sk-bench",
    "anthropic_api_key": "sk-bench",
    "dashscope_api_key": "sk-bench",
    "judge_api_key": "jk-bench",
}


def deltas(count: int) -> list[str]:
    words = "the quick brown fox jumps over the lazy dog while 模型 在 流式 输出 文字 and more text follows".split()
    out, n = [], 0
    while len(out) < count:
        size = 4 + n % 9
        text = ""
        while len(text) < size:
            text += words[(n + len(text)) % len(words)] + " "
        out.append(text[:size])
        n += 1
    return out


def stream(count: int) -> list[bytes]:
    events = [
        ("data: " + json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": d}}]}) + "\n\n").encode()
        for d in deltas(count)
    ]
    return events + [b"data: [DONE]\n\n"]


def arrivals(envoy: Envoy, host: str) -> list[float]:
    """Seconds from the request to each event's arrival."""
    body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=60)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"host": host, "content-type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200, response.status
    times, pending = [], b""
    while True:
        data = response.read1(65536)
        if not data:
            break
        now = time.perf_counter() - start
        pending += data
        while b"\n\n" in pending:
            _, pending = pending.split(b"\n\n", 1)
            times.append(now)
    conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10, help="milliseconds between events")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "guardc"], cwd=ROOT, check=True)
    work = Path(tempfile.mkdtemp(prefix="guard-stream-latency-"))
    policies = sorted((ROOT / "policies").glob("*.guard"))
    subprocess.run([str(ROOT / "target" / "release" / "guardc"), "build", *map(str, policies), "-o", str(work / "build")], check=True, stdout=subprocess.DEVNULL)
    upstream = MockUpstream().start()
    envoy = Envoy(work=work / "envoy", wasm=work / "build" / "plugin.wasm", plugin_config={"secrets": SECRETS}, upstream_port=upstream.port, judge_clusters={})
    (work / "envoy").mkdir()
    envoy.start()
    events = stream(args.events)
    settings = {"status": 200, "content_type": "text/event-stream", "events": [e.hex() for e in events], "delay": args.interval / 1000}
    try:
        guarded, plain = [], []
        for _ in range(args.rounds):
            for host, into in (("api.openai.com", guarded), ("llm.unguarded.test", plain)):
                upstream.configure(dict(settings))
                into.append(arrivals(envoy, host))
    finally:
        envoy.stop()
        upstream.stop()
    count = min(len(r) for r in guarded + plain)
    added = [
        statistics.median(g[i] for g in guarded) - statistics.median(p[i] for p in plain)
        for i in range(count)
    ]
    ms = sorted(a * 1000 for a in added)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    interval = args.interval
    print(f"{count} events, one every {interval:g} ms, {args.rounds} rounds")
    print(f"added latency per event: median {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms "
          f"(about {statistics.median(ms) / interval:.1f} events later)")


if __name__ == "__main__":
    main()
