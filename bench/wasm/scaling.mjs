// How guard's cost in V8 (Node) grows with the policy: µs per KB for 10 to 20,000 keywords ×
// 1 to 50 regexes, the bundles of `scaling-bundles` (the policies of bench/src/spec.rs's
// `scaling`).
//
//   cargo run --release -p guard-bench --bin scaling-bundles -- DIR
//   node bench/wasm/scaling.mjs MODULE.wasm DIR [--ms MS]
//
// MODULE.wasm is bench/wasm built for wasm32-unknown-unknown (see BENCHMARKS.md). For each
// `DIR/k{K}-r{R}.bundle`: `load` timed in 5 fresh instances (the median is reported), then, in
// one more instance, `inspect` of the 3 KB and 64 KiB chat bodies (JSON: extraction,
// normalisation, scan) and of the same sizes of plain text (`scan`: text/plain, so extraction is
// one UTF-8 check), each timed as run.mjs does (a 200 ms warm-up, then at least MS ms of calls,
// 1,000 by default). Prints a line per policy, then Markdown tables: keywords down, regexes
// across, µs per KB (1 KB = 1,000 bytes of the body) for each measurement, and load times.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { VERDICT, compileModule, instance, loadInto, median, timeCalls } from "./common.mjs";

const args = process.argv.slice(2);
const msAt = args.indexOf("--ms");
const minMs = msAt >= 0 ? Number(args.splice(msAt, 2)[1]) : 1000;
const [modulePath, dir] = args;
if (!modulePath || !dir || !(minMs > 0)) {
  console.error("usage: node scaling.mjs MODULE.wasm DIR [--ms MS]");
  process.exit(2);
}
const module = compileModule(modulePath);

const bundles = readdirSync(dir)
  .map((file) => {
    const m = /^k(\d+)-r(\d+)\.bundle$/.exec(file);
    return m && { file, keywords: Number(m[1]), regexes: Number(m[2]) };
  })
  .filter(Boolean)
  .sort((a, b) => a.keywords - b.keywords || a.regexes - b.regexes);
if (bundles.length === 0) {
  console.error(`${dir}: no k{K}-r{R}.bundle files (cargo run --release -p guard-bench --bin scaling-bundles -- ${dir})`);
  process.exit(1);
}

// The measured calls: [label, body size, plain].
const MEASURES = [
  ["inspect 3 KB", 3000, 0],
  ["inspect 64 KiB", 64 << 10, 0],
  ["scan 3 KB", 3000, 1],
  ["scan 64 KiB", 64 << 10, 1],
];

console.log(`module ${modulePath}: ${readFileSync(modulePath).length} bytes; node ${process.version}; ≥${minMs} ms of calls per cell`);

// results[measure label][`${k}/${r}`] = µs per KB; loads[`${k}/${r}`] = median ms.
const results = Object.fromEntries(MEASURES.map(([label]) => [label, {}]));
const loads = {};
for (const { file, keywords, regexes } of bundles) {
  const bundle = readFileSync(join(dir, file));
  const times = [];
  for (let i = 0; i < 5; i++) times.push(loadInto(instance(module), bundle));
  const key = `${keywords}/${regexes}`;
  loads[key] = median(times);
  const x = instance(module);
  loadInto(x, bundle);
  const cells = [];
  for (const [label, size, plain] of MEASURES) {
    const ptr = x.make_body(size, plain);
    const len = x.body_len();
    const verdict = x.inspect(ptr, len, plain);
    // A deny would stop the scan at the match and time less than the whole body.
    if (verdict !== 0) throw new Error(`${file} ${label}: verdict ${VERDICT[verdict] ?? verdict}`);
    const us = timeCalls(() => x.inspect(ptr, len, plain), { minMs });
    results[label][key] = us / (len / 1000);
    cells.push(`${label} ${us.toFixed(1)} µs (${(len / us).toFixed(1)} MB/s)`);
  }
  console.log(`${file}: bundle ${bundle.length} B, load median ${loads[key].toFixed(2)} ms (min ${Math.min(...times).toFixed(2)}); ${cells.join(", ")}`);
}

const ks = [...new Set(bundles.map((b) => b.keywords))];
const rs = [...new Set(bundles.map((b) => b.regexes))];
const count = (n) => n.toLocaleString("en-US");
function table(title, values, digits) {
  console.log(`\n${title}\n`);
  console.log(`| keywords \\ regexes | ${rs.map(count).join(" | ")} |`);
  console.log(`|---:|${rs.map(() => "---:").join("|")}|`);
  for (const k of ks) {
    const row = rs.map((r) => (values[`${k}/${r}`] === undefined ? "" : values[`${k}/${r}`].toFixed(digits)));
    console.log(`| ${count(k)} | ${row.join(" | ")} |`);
  }
}
for (const [label] of MEASURES) table(`${label}: µs per KB`, results[label], 2);
table("load (median of 5 fresh instances): ms", loads, 2);
