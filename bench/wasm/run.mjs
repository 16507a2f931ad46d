// Times guard's evaluation inside V8 (Node): bundle load and inspect throughput.
//
//   node bench/wasm/run.mjs MODULE.wasm NAME=BUNDLE [NAME=BUNDLE ...]
//
// MODULE.wasm is bench/wasm built for wasm32-unknown-unknown (see BENCHMARKS.md); each BUNDLE is
// a `guardc compile` output. For each bundle: a fresh instance, `load` timed (median of 15 fresh
// instances), then for each body (chat JSON and plain text; 1 KiB, 3 KB, 64 KiB, 1 MiB) `inspect` run
// for at least ~1 s after a warm-up, reported as MB/s (10^6 bytes per second) and µs per call.
import { readFileSync } from "node:fs";

import { VERDICT, compileModule, instance as fresh, loadInto, median, timeCalls } from "./common.mjs";

const [modulePath, ...specs] = process.argv.slice(2);
if (!modulePath || specs.length === 0) {
  console.error("usage: node run.mjs MODULE.wasm NAME=BUNDLE ...");
  process.exit(2);
}
const module = compileModule(modulePath);
const instance = () => fresh(module);

console.log(`module ${modulePath}: ${readFileSync(modulePath).length} bytes; node ${process.version}`);

for (const spec of specs) {
  const [name, path] = spec.split("=");
  const bundle = readFileSync(path);
  const loads = [];
  for (let i = 0; i < 15; i++) loads.push(loadInto(instance(), bundle));
  const x = instance();
  loadInto(x, bundle);
  console.log(`${name}: bundle ${bundle.length} bytes, load median ${median(loads).toFixed(2)} ms (min ${Math.min(...loads).toFixed(2)})`);
  for (const plain of [0, 1]) {
    for (const [size, label] of [[1 << 10, "1KiB"], [3000, "3KB"], [64 << 10, "64KiB"], [1 << 20, "1MiB"]]) {
      const ptr = x.make_body(size, plain);
      const len = x.body_len();
      const verdict = x.inspect(ptr, len, plain);
      if (verdict === 1 || verdict < 0) throw new Error(`${name} ${label}: verdict ${verdict}`);
      // Warm up (tier-up), then time batches until at least ~1 s has passed.
      const us = timeCalls(() => x.inspect(ptr, len, plain));
      const mbs = len / us;
      const kind = plain ? "scan   " : "inspect";
      console.log(`  ${kind} ${label.padStart(5)} (${len} B, ${VERDICT[verdict]}): ${mbs.toFixed(1).padStart(7)} MB/s, ${us.toFixed(1)} µs/call`);
    }
  }
}

// The policy-independent stages alone, after the policies (the module is warm by then):
// extraction of the chat body, normalisation of the text.
function stages() {
  const x = instance();
  for (const [which, plain, name] of [[0, 0, "extract  "], [1, 1, "normalize"]]) {
    for (const [size, label] of [[3000, "3KB"], [64 << 10, "64KiB"]]) {
      const ptr = x.make_body(size, plain);
      const len = x.body_len();
      if (x.stage(ptr, len, which) < 0) throw new Error(`stage ${name} failed`);
      const us = timeCalls(() => x.stage(ptr, len, which));
      console.log(`stage ${name} ${label.padStart(5)} (${len} B): ${(len / us).toFixed(1).padStart(7)} MB/s, ${us.toFixed(1)} µs/call`);
    }
  }
}
stages();
