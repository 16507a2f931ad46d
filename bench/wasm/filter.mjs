// Times the whole guard filter (a `guardc build` plugin.wasm) per request inside V8, with a
// minimal proxy-wasm host written here: what a request costs in the VM, callbacks and hostcalls
// included, without Envoy's own work around it. Counts the hostcalls of one request, too.
//
//   node bench/wasm/filter.mjs PLUGIN.wasm BODY [--host HOST] [--path PATH] [--seconds S]
//                              [--evict MB]
//
// BODY is the request body file (bench's `chat-body 3000` writes the Envoy benchmark's). The
// host answers every hostcall the guard makes on a request that passes: header map reads and
// writes, body buffer reads and writes, time, metrics, logs and the property. A request that is
// answered locally (a deny) is reported, not timed: the benchmark body is benign. This host has
// no judge, so a policy that escalates (the reference policy) is answered 503 and cannot be timed.
// With --evict MB, each request is timed alone after a pass over MB megabytes of other memory,
// which leaves the caches as a proxy's own work between two requests does (Envoy and wrk share
// two cores here): what the request costs with its code and data cold.
import { readFileSync } from "node:fs";

import { now, timeCalls } from "./common.mjs";

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : fallback;
};
const host = flag("--host", "dashscope.aliyuncs.com");
const path = flag("--path", "/compatible-mode/v1/chat/completions");
const seconds = Number(flag("--seconds", "3"));
const evictMb = Number(flag("--evict", "0"));
const configuration = flag(
  "--config",
  JSON.stringify({ secrets: { dashscope_api_key: "sk-bench-upstream", judge_api_key: "sk-bench-judge", api_key: "sk-bench" } }),
);
const [pluginPath, bodyPath] = args;
if (!pluginPath || !bodyPath) {
  console.error("usage: node filter.mjs PLUGIN.wasm BODY [--host H] [--path P] [--seconds S] [--config JSON] [--evict MB]");
  process.exit(2);
}
const requestBody = readFileSync(bodyPath);
const answerBody = Buffer.from(JSON.stringify({
  id: "chatcmpl-bench", object: "chat.completion", model: "qwen-plus",
  choices: [{ index: 0, message: { role: "assistant", content: "Sure." }, finish_reason: "stop" }],
}));
const configBytes = Buffer.from(configuration);
const enc = new TextEncoder();
const dec = new TextDecoder();

// What the host holds for the request in flight.
let maps, buffers, calls, localReply;
function fresh() {
  maps = {
    0: [[":authority", host], [":path", path], [":method", "POST"], [":scheme", "http"],
      ["content-type", "application/json"], ["content-length", String(requestBody.length)],
      ["user-agent", "wrk"], ["x-request-id", "0f9c2a4e-6a9b-4a39-b1f4-bench"]],
    2: [[":status", "200"], ["content-type", "application/json"], ["content-length", String(answerBody.length)]],
  };
  maps[0].pristine = maps[2].pristine = true;
  buffers = { 0: requestBody, 1: answerBody, 7: configBytes };
  calls = {};
  localReply = null;
}
fresh();

let x; // the instance's exports
const mem = () => new Uint8Array(x.memory.buffer);
const view = () => new DataView(x.memory.buffer);
const str = (ptr, len) => dec.decode(mem().subarray(ptr, ptr + len));
function give(bytes, ptrPtr, sizePtr) {
  const ptr = bytes.length === 0 ? 0 : x.malloc(bytes.length);
  if (bytes.length) mem().set(bytes, ptr);
  view().setUint32(ptrPtr, ptr, true);
  view().setUint32(sizePtr, bytes.length, true);
  return 0;
}
function pairs(list) {
  const parts = list.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + parts.length * 8;
  for (const [k, v] of parts) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, parts.length, true);
  let at = 4;
  for (const [k, v] of parts) {
    dv.setUint32(at, k.length, true);
    dv.setUint32(at + 4, v.length, true);
    at += 8;
  }
  for (const [k, v] of parts) {
    out.set(k, at); at += k.length + 1;
    out.set(v, at); at += v.length + 1;
  }
  return out;
}
// The serialised pairs of a map the filter has not changed yet are made once: the host's own
// work should cost as little of the time measured as it can.
const pristine = {};
const encoded = (map) => {
  if (maps[map].pristine) return (pristine[map] ||= pairs(maps[map]));
  return pairs(maps[map] || []);
};
const counted = (name, fn) => (...a) => {
  calls[name] = (calls[name] || 0) + 1;
  return fn(...a);
};
const metrics = [];
const env = {
  proxy_log: (level, ptr, len) => 0,
  proxy_get_header_map_pairs: (map, ptrPtr, sizePtr) => give(encoded(map), ptrPtr, sizePtr),
  proxy_get_header_map_value: (map, kp, kl, ptrPtr, sizePtr) => {
    const key = str(kp, kl);
    const found = (maps[map] || []).find(([k]) => k === key);
    return found ? give(enc.encode(found[1]), ptrPtr, sizePtr) : 1;
  },
  proxy_replace_header_map_value: (map, kp, kl, vp, vl) => {
    const key = str(kp, kl);
    maps[map] = (maps[map] || []).filter(([k]) => k !== key).concat([[key, str(vp, vl)]]);
    return 0;
  },
  proxy_add_header_map_value: (map, kp, kl, vp, vl) => {
    maps[map] = (maps[map] || []).concat([[str(kp, kl), str(vp, vl)]]);
    return 0;
  },
  proxy_remove_header_map_value: (map, kp, kl) => {
    const key = str(kp, kl);
    maps[map] = (maps[map] || []).filter(([k]) => k !== key);
    return 0;
  },
  proxy_set_header_map_pairs: () => 0,
  proxy_get_buffer_bytes: (type, start, max, ptrPtr, sizePtr) => {
    const b = buffers[type] || Buffer.alloc(0);
    return give(b.subarray(start, Math.min(b.length, start + max)), ptrPtr, sizePtr);
  },
  proxy_set_buffer_bytes: (type, start, size, vp, vl) => {
    const b = buffers[type] || Buffer.alloc(0);
    // Envoy's shape: drain `size` bytes from the start, then prepend the new bytes.
    buffers[type] = Buffer.concat([Buffer.from(mem().subarray(vp, vp + vl)), b.subarray(start + size)]);
    return 0;
  },
  proxy_get_current_time_nanoseconds: (ptr) => { view().setBigUint64(ptr, process.hrtime.bigint(), true); return 0; },
  proxy_define_metric: (type, np, nl, idPtr) => { metrics.push(str(np, nl)); view().setUint32(idPtr, metrics.length, true); return 0; },
  proxy_increment_metric: () => 0,
  proxy_record_metric: () => 0,
  proxy_get_property: () => 1,
  proxy_set_property: () => 0,
  proxy_set_tick_period_milliseconds: () => 0,
  proxy_set_effective_context: () => 0,
  proxy_continue_stream: () => 0,
  proxy_close_stream: () => 0,
  proxy_done: () => 0,
  proxy_send_local_response: (status) => { localReply = status; return 0; },
  proxy_http_call: () => 2,
  proxy_get_status: () => 1,
  proxy_get_shared_data: () => 1,
  proxy_set_shared_data: () => 0,
  proxy_register_shared_queue: () => 1,
  proxy_resolve_shared_queue: () => 1,
  proxy_dequeue_shared_queue: () => 1,
  proxy_enqueue_shared_queue: () => 1,
  proxy_grpc_call: () => 2, proxy_grpc_stream: () => 2, proxy_grpc_send: () => 2,
  proxy_grpc_cancel: () => 2, proxy_grpc_close: () => 2,
  proxy_call_foreign_function: () => 1,
};
for (const name of Object.keys(env)) env[name] = counted(name, env[name]);

const bytes = readFileSync(pluginPath);
const module = new WebAssembly.Module(bytes);
x = new WebAssembly.Instance(module, { env }).exports;
const ROOT = 1;
x._initialize?.();
x.proxy_on_context_create(ROOT, 0);
x.proxy_on_vm_start(ROOT, 0);
if (!x.proxy_on_configure(ROOT, buffers[7].length)) throw new Error("on_configure refused the configuration");

let next = 2;
function request() {
  fresh();
  const id = next++;
  const actions = [];
  x.proxy_on_context_create(id, ROOT);
  actions.push(x.proxy_on_request_headers(id, maps[0].length, 0));
  actions.push(x.proxy_on_request_body(id, buffers[0].length, 1));
  actions.push(x.proxy_on_response_headers(id, maps[2].length, 0));
  actions.push(x.proxy_on_response_body(id, buffers[1].length, 1));
  x.proxy_on_done(id);
  x.proxy_on_log(id);
  x.proxy_on_delete(id);
  return actions;
}

const first = request();
const forwarded = buffers[0];
console.log(`plugin ${pluginPath}: ${bytes.length} bytes; node ${process.version}; body ${requestBody.length} bytes`);
console.log(`actions (request headers, body, response headers, body): ${first.join(" ")}; local reply: ${localReply ?? "none"}`);
if (localReply !== null) throw new Error(`the benchmark body was answered locally (${localReply})`);
if (!forwarded.equals(requestBody)) throw new Error("the forwarded body differs from the request's");
const auth = maps[0].find(([k]) => k === "authorization");
console.log(`authorization sent upstream: ${auth ? auth[1].replace(/sk-.*/, "sk-…") : "none"}`);
console.log(`hostcalls per request: ${Object.entries(calls).map(([k, v]) => `${k.replace("proxy_", "")} ${v}`).join(", ")}`);
if (evictMb > 0) {
  const other = new Uint32Array(evictMb * 262144);
  const evict = () => { for (let i = 0; i < other.length; i += 16) other[i] += 1; };
  for (let i = 0; i < 2000; i++) request();
  let total = 0;
  let n = 0;
  const t1 = now();
  while (now() - t1 < seconds * 1000) {
    evict();
    const t0 = now();
    request();
    total += now() - t0;
    n++;
  }
  console.log(`per request, after evicting ${evictMb} MB: ${((total * 1000) / n).toFixed(2)} µs (${n} requests)`);
} else {
  const us = timeCalls(request, { warmupMs: 500, minMs: seconds * 1000 });
  console.log(`per request: ${us.toFixed(2)} µs (at least ${seconds} s of requests)`);
}
