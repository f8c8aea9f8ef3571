// Benchmark: what the dashboard open on a running job costs it. A dp 2 job in a cluster `troupe up` started; its
// committed steps are counted in alternating windows, without (A) and with (B) a `troupe dashboard` process and a
// headless Chromium page on the job view (live charts, grid, events), in the order A B B A A B B A …, so that a
// change of the machine's load hits both sides alike. Each window's first seconds (the dashboard and the browser
// starting or stopping) are not counted. Target: the job's step rate with the page open within 2 % of without.
// Usage: npm run bench -- dashboard [--windows N] [--every S] [--settle S]   (defaults: 8 windows of 30 s, 8 s settle)
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";
import { chromium } from "playwright-core";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { readClusterInfo, readToken } from "../../cli/cluster/cluster-file.ts";
import { chromiumPath } from "../dashboard/chromium.ts";
import { tinyDp2Yaml } from "../distributed/fixtures/tiny-job-yaml.ts";

const { values } = parseArgs({
  options: {
    windows: { type: "string", default: "8" },
    every: { type: "string", default: "30" },
    settle: { type: "string", default: "8" },
  },
});
const windows = Number(values.windows);
const every = Number(values.every);
const settle = Number(values.settle);
if (!Number.isInteger(windows) || windows < 2 || windows % 2)
  throw new Error(`--windows must be an even integer ≥ 2, got '${values.windows}'`);
if (!(every > 0) || !(settle >= 0) || settle >= every)
  throw new Error("--every must be a positive number of seconds, --settle less than it");

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-dashboard-"));
const cluster = path.join(dir, ".troupe");
const troupe = (...args: string[]) => run(process.execPath, [bin, ...args, "--cluster", cluster], { cwd: repo, timeout: 240_000 });
const withPage = (i: number) => i % 4 === 1 || i % 4 === 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const load = () => os.loadavg()[0]!.toFixed(2);

/** A dashboard process and a browser page on its job view; resolves when the page draws the job. */
async function openPage(executablePath: string): Promise<() => Promise<void>> {
  let out = "";
  const d: ChildProcess = spawn(process.execPath, [bin, "dashboard", "--port", "0", "--cluster", cluster], { cwd: repo });
  d.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  const url = await pollUntil(() => /^troupe dashboard: (\S+)$/m.exec(out)?.[1], { what: "the dashboard's URL", timeoutMs: 60_000 });
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(url);
  await page.goto(url.slice(0, url.indexOf("?")) + "#job");
  await page.locator('.cell[data-worker="bench-w0"]').waitFor({ timeout: 60_000 });
  return async () => {
    await browser.close();
    d.kill("SIGINT");
  };
}

try {
  writeFileSync(path.join(dir, "bench.yaml"), tinyDp2Yaml({ name: "bench", steps: 10000000, evalEvery: 200, checkpointEvery: 10000000 }));
  const executablePath = chromiumPath();
  await troupe("up");
  const info = readClusterInfo(cluster);
  const nc = await connectNats({ url: info.url, token: readToken(info.tokenFile), name: "bench-dashboard" });
  const events = await EventLog.open(nc, namespace(info.clusterId));
  const commits: number[] = [];
  const ctl = new AbortController();
  void events.read({ follow: true, signal: ctl.signal }, (e) => {
    if (e.type === "step.committed" && e.data.jobId === "bench") commits.push(Date.now());
  });
  await troupe("train", path.join(dir, "bench.yaml"), "--detach", "--name", "bench", "--run-dir", path.join(dir, "bench"), "--no-samples");
  await pollUntil(() => (commits.length >= 20 ? true : undefined), { what: "the job stepping", timeoutMs: 180_000 });
  console.log(`dp 2 job stepping; ${windows} windows of ${every} s (first ${settle} s of each not counted); load average ${load()}`);
  const rates: { page: boolean; rate: number }[] = [];
  let close: (() => Promise<void>) | undefined;
  for (let i = 0; i < windows; i++) {
    const start = Date.now();
    if (withPage(i) && !close) close = await openPage(executablePath);
    if (!withPage(i) && close) {
      await close();
      close = undefined;
    }
    await sleep(start + settle * 1000 - Date.now());
    const from = Date.now();
    await sleep(start + every * 1000 - Date.now());
    const n = commits.filter((t) => t >= from).length;
    const rate = n / ((Date.now() - from) / 1000);
    rates.push({ page: withPage(i), rate });
    console.log(`  window ${i + 1} ${withPage(i) ? "B (page open)" : "A (no page)  "}: ${rate.toFixed(1)} steps/s; load average ${load()}`);
  }
  await close?.();
  ctl.abort();
  await troupe("stop", "bench").catch(() => undefined);
  await nc.close();
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const without = mean(rates.filter((r) => !r.page).map((r) => r.rate));
  const open = mean(rates.filter((r) => r.page).map((r) => r.rate));
  const slowdown = 1 - open / without;
  console.log(`steps/s without the page ${without.toFixed(2)}, with it ${open.toFixed(2)}: ${(100 * slowdown).toFixed(1)} % slower`);
  console.log(
    JSON.stringify({
      bench: "dashboard",
      figures: { stepsPerSecondWithout: without, stepsPerSecondWithPage: open, slowdown, loadAverage: Number(load()) },
      targets: { slowdown: { op: "<=", value: 0.02, actual: Math.round(slowdown * 1000) / 1000, met: slowdown <= 0.02 } },
    }),
  );
} finally {
  await troupe("down").catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
