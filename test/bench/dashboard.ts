// Benchmark: what the dashboard open on a running job costs it. A dp 2 job in a cluster `troupe up` started; its
// committed steps are counted in alternating windows, without (A) and with (B) a `troupe dashboard` process and a
// headless Chromium page on the job view (live charts, grid, events), in the order A B B A A B B A …. Each window's
// first seconds (the dashboard and the browser starting or stopping) are not counted. The figure is interleaved:
// each pair of neighbouring windows (one A, one B, seconds apart) gives a ratio of mean step times, B / A, and the
// median of those ratios is the cost, so that the machine's load, which moves over minutes on a shared box, cancels
// within each pair instead of adding to one side. Target: step time with the page open at most 2 % above without.
// On a box loaded by others the step rate swings by more than the effect; a second figure does not depend on the
// load: the CPU seconds the dashboard process and the browser use in the B windows, as a share of the CPU seconds the
// job's processes (workers, coordinator) use meanwhile. With the job using every core, that share is what the page
// takes from it.
// Usage: npm run bench -- dashboard [--windows N] [--every S] [--settle S]   (defaults: 16 windows of 20 s, 6 s settle)
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
import { Registry } from "../../runtime/registry.ts";
import { cpuBetween, cpuSeconds, descendantCpu } from "./proc-cpu.ts";
import { tinyDp2Yaml } from "../distributed/fixtures/tiny-job-yaml.ts";

const { values } = parseArgs({
  options: {
    windows: { type: "string", default: "16" },
    every: { type: "string", default: "20" },
    settle: { type: "string", default: "6" },
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

/** The pid of the `troupe dashboard` process of the open page (its CPU is told apart from the browser's). */
let dashboardPid = 0;

/** A dashboard process and a browser page on its job view; resolves when the page draws the job. */
async function openPage(executablePath: string): Promise<() => Promise<void>> {
  let out = "";
  const d: ChildProcess = spawn(process.execPath, [bin, "dashboard", "--port", "0", "--cluster", cluster], { cwd: repo });
  dashboardPid = d.pid ?? 0;
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
  const registry = await Registry.open(nc, namespace(info.clusterId));
  const jobCpu = async () => {
    const pids = await Promise.all(["bench-w0", "bench-w1", "bench-coordinator"].map(async (id) => (await registry.getActor(id))?.pid));
    return pids.reduce((s: number, pid) => s + (pid ? cpuSeconds(pid) : 0), 0);
  };
  const rates: { page: boolean; rate: number; load: number }[] = [];
  let pageCpu = 0;
  let dashboardCpu = 0;
  let jobCpuWithPage = 0;
  let close: (() => Promise<void>) | undefined;
  for (let i = 0; i < windows; i++) {
    if (withPage(i) && !close) close = await openPage(executablePath);
    if (!withPage(i) && close) {
      await close();
      close = undefined;
    }
    // the window starts once the page is drawn (or gone): on a loaded box that alone may take longer than `settle`
    const start = Date.now();
    await sleep(start + settle * 1000 - Date.now());
    const from = Date.now();
    const [job0, page0, dash0] = [await jobCpu(), descendantCpu(), cpuSeconds(dashboardPid)];
    await sleep(start + every * 1000 - Date.now());
    if (withPage(i)) {
      pageCpu += cpuBetween(page0, descendantCpu());
      dashboardCpu += cpuSeconds(dashboardPid) - dash0;
      jobCpuWithPage += (await jobCpu()) - job0;
    }
    const n = commits.filter((t) => t >= from).length;
    const rate = n / ((Date.now() - from) / 1000);
    rates.push({ page: withPage(i), rate, load: os.loadavg()[0]! });
    console.log(`  window ${i + 1} ${withPage(i) ? "B (page open)" : "A (no page)  "}: ${rate.toFixed(1)} steps/s; load average ${load()}`);
  }
  await close?.();
  ctl.abort();
  await troupe("stop", "bench").catch(() => undefined);
  await nc.close();
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  // windows 2k and 2k+1 are one A and one B (A B, B A, A B, …): step time B / A = rate A / rate B
  const ratios = Array.from({ length: windows / 2 }, (_, k) => {
    const [x, y] = [rates[2 * k]!, rates[2 * k + 1]!];
    const [a, b] = x.page ? [y, x] : [x, y];
    return a.rate / b.rate;
  });
  const cost = median(ratios) - 1;
  const without = median(rates.filter((r) => !r.page).map((r) => r.rate));
  const open = median(rates.filter((r) => r.page).map((r) => r.rate));
  const loads = rates.map((r) => r.load);
  const cpuShare = pageCpu / jobCpuWithPage;
  console.log(
    `CPU in the B windows: dashboard and browser ${pageCpu.toFixed(1)} s (the dashboard process ${dashboardCpu.toFixed(1)} s), the job ${jobCpuWithPage.toFixed(1)} s: ${(100 * cpuShare).toFixed(1)} %`,
  );
  console.log(`step time with the page / without, per pair: ${ratios.map((r) => r.toFixed(3)).join(" ")}`);
  console.log(
    `median ${(1 + cost).toFixed(3)}: the page open costs ${(100 * cost).toFixed(1)} % step time ` +
      `(median steps/s ${without.toFixed(2)} without, ${open.toFixed(2)} with; load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)})`,
  );
  console.log(
    JSON.stringify({
      bench: "dashboard",
      figures: {
        stepTimeRatios: ratios,
        stepTimeCost: cost,
        pageCpuShare: cpuShare,
        dashboardProcessCpuShare: dashboardCpu / jobCpuWithPage,
        stepsPerSecondWithout: without,
        stepsPerSecondWithPage: open,
        loadAverage: loads,
      },
      targets: {
        stepTimeCost: { op: "<=", value: 0.02, actual: Math.round(cost * 1000) / 1000, met: cost <= 0.02 },
        pageCpuShare: { op: "<=", value: 0.02, actual: Math.round(cpuShare * 1000) / 1000, met: cpuShare <= 0.02 },
      },
    }),
  );
} finally {
  await troupe("down").catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
