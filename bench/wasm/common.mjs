// What run.mjs and scaling.mjs share: instances of the bench-wasm module, a bundle loaded into
// one and timed, and the timing loop for calls.
import { readFileSync } from "node:fs";

export const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

export const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const VERDICT = { 0: "allow", 1: "deny", 2: "escalate" };

// The compiled module (compiled once: every instance shares its code and its tier-up).
export function compileModule(path) {
  return new WebAssembly.Module(readFileSync(path));
}

// A fresh instance's exports: its own linear memory, no ruleset loaded.
export function instance(module) {
  return new WebAssembly.Instance(module, {}).exports;
}

// Copies the bundle into the instance's memory (not timed) and loads it (timed, in ms).
export function loadInto(x, bundle) {
  const ptr = x.alloc(bundle.length);
  new Uint8Array(x.memory.buffer, ptr, bundle.length).set(bundle);
  const t0 = now();
  const status = x.load(ptr, bundle.length);
  const ms = now() - t0;
  if (status !== 0) throw new Error(`load failed: ${status}`);
  return ms;
}

// µs per call of `call`: a warm-up of `warmupMs` (so V8 tiers the code up), then batches of 8
// calls until `minMs` have passed.
export function timeCalls(call, { warmupMs = 200, minMs = 1000 } = {}) {
  let t0 = now();
  while (now() - t0 < warmupMs) call();
  let calls = 0;
  t0 = now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 8; i++) call();
    calls += 8;
    elapsed = now() - t0;
  }
  return (elapsed * 1000) / calls;
}
