#!/usr/bin/env node
// `npm run bench -- NAME [args]`: runs test/bench/NAME.ts. Without NAME, lists the benchmarks.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "test", "bench");
const names = readdirSync(dir)
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);
if (!name || name === "--help" || name === "-h") {
  console.log(`usage: npm run bench -- NAME [args]\nbenchmarks: ${names.join(", ")}`);
  process.exit(name ? 0 : 1);
}
if (!names.includes(name)) {
  console.error(`unknown benchmark '${name}'; available: ${names.join(", ")}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ["--import", "tsx", path.join(dir, `${name}.ts`), ...args], { stdio: "inherit" });
process.exit(r.status ?? 1);
