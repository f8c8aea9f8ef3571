// Benchmark: what the dashboard open on a running job costs it. A dp 2 job in a cluster `troupe up` started; its
// committed steps are counted in alternating windows, without (A) and with (B) a `troupe dashboard` process and a
// headless Chromium page on the job view (live charts, grid, events), in the order A B B A A B B A …. Each window's
// first seconds (the dashboard and the browser starting or stopping) are not counted. Each pair of neighbouring
// windows (one A, one B, seconds apart) gives a ratio of mean step times, B / A, and the median of those ratios is
// the cost, so that the machine's load, which moves over minutes on a shared box, cancels within each pair. A
// window's rate is read from the job's last commit at its ends (message gets: a reader of every event would itself
// cost the job's nats-server); a pair in which the job restarted an actor (a heartbeat missed on a starved CPU)
// measures that recovery, not the page, and is left out (counted in the output).
//
// Where the processes run. On a real cluster the dashboard runs on the head node and the browser on the operator's
// laptop, not on the training host's cores; what the page costs the job there is what it asks of the cluster: the
// NATS messages delivered to its consumers and watches, its requests. So the windows are run twice:
// - isolated (the TARGET): the job's processes (nats-server, host agent, coordinator, workers: everything `troupe`
//   starts) on one half of the CPUs, the dashboard and Chromium on the other (`taskset -c`, cpu-sets.ts). The
//   nats-server stays with the job, so the work the dashboard's consumers make it do is charged to the job.
//   Target: step time with the page open at most 2 % above without.
// - shared (a figure, not a target): the dashboard and Chromium on the job's CPUs too, as when a developer opens
//   the page on the training machine; there the CPU they use is taken from the job, and on a small box it dominates.
// Printed as figures too, so that nothing is hidden: the CPU seconds the dashboard process and the browser use per
// committed job step in the B windows of each mode, and their share of the job's CPU seconds meanwhile; and the
// nats-server's CPU seconds per step in the A and in the B windows (the work the page's watches and consumers add).
// Without taskset or with a single CPU the isolated windows cannot be run: the bench says so and the target is
// taken from the shared windows (stated in the output: figures.cpuSets is null).
// Usage: npm run bench -- dashboard [--windows N] [--every S] [--settle S] [--warmup S]
//   (defaults: 16 windows of 12 s per mode, 4 s settle, 30 s of the job alone first; N even: 8 pairs)
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { chromium } from "playwright-core";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { parseEvent } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { readClusterInfo, readToken } from "../../cli/cluster/cluster-file.ts";
import { chromiumPath } from "../dashboard/chromium.ts";
import { Registry } from "../../runtime/registry.ts";
import { cpuBetween, cpuSeconds, descendantCpu } from "./proc-cpu.ts";
import { allowedCpus, parseCpuList, pinned, pinnedExecutable, splitCpus } from "./cpu-sets.ts";
import { tinyDp2Yaml } from "../distributed/fixtures/tiny-job-yaml.ts";

const TARGET = 0.02;
const { values } = parseArgs({
  options: {
    windows: { type: "string", default: "16" },
    every: { type: "string", default: "12" },
    settle: { type: "string", default: "4" },
    warmup: { type: "string", default: "30" },
  },
});
const windows = Number(values.windows);
const every = Number(values.every);
const settle = Number(values.settle);
const warmup = Number(values.warmup);
if (!Number.isInteger(windows) || windows < 2 || windows % 2)
  throw new Error(`--windows must be an even integer ≥ 2, got '${values.windows}'`);
if (!(every > 0) || !(settle >= 0) || settle >= every)
  throw new Error("--every must be a positive number of seconds, --settle less than it");
if (!(warmup >= 0)) throw new Error(`--warmup must be a number of seconds ≥ 0, got '${values.warmup}'`);

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-dashboard-"));
const cluster = path.join(dir, ".troupe");
const split = splitCpus();
const cpus = typeof split === "string" ? undefined : split;
/** A `troupe` command on the job's CPUs (what it starts inherits them). */
const troupe = (...args: string[]) =>
  run(...pinned(cpus?.job, process.execPath, [bin, ...args, "--cluster", cluster]), { cwd: repo, timeout: 240_000 });
const withPage = (i: number) => i % 4 === 1 || i % 4 === 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const load = () => os.loadavg()[0]!.toFixed(2);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Mode {
  name: "isolated" | "shared";
  /** The CPUs of the dashboard and the browser (undefined: not pinned). */
  page: string | undefined;
}

/** A dashboard process and a browser page on its job view, on `m.page`'s CPUs; resolves when the page draws the job. */
async function openPage(m: Mode, chromiumBinary: string): Promise<{ dashboardPid: number; close: () => Promise<void> }> {
  let out = "";
  const [file, args] = pinned(m.page, process.execPath, [bin, "dashboard", "--port", "0", "--cluster", cluster]);
  const d: ChildProcess = spawn(file, args, { cwd: repo });
  d.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  const url = await pollUntil(() => /^troupe dashboard: (\S+)$/m.exec(out)?.[1], { what: "the dashboard's URL", timeoutMs: 60_000 });
  const executablePath = m.page === undefined ? chromiumBinary : pinnedExecutable(dir, `chromium-${m.name}`, chromiumBinary, m.page);
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(url);
  await page.goto(url.slice(0, url.indexOf("?")) + "#job");
  await page.locator('.cell[data-worker="bench-w0"]').waitFor({ timeout: 60_000 });
  return {
    dashboardPid: d.pid ?? 0,
    close: async () => {
      await browser.close();
      d.kill("SIGINT");
    },
  };
}

interface ModeResult {
  ratios: number[];
  /** Pairs left out: the job restarted an actor during one of their windows. */
  leftOut: number;
  cost: number;
  without: number;
  open: number;
  /** CPU seconds per committed job step in the B windows. */
  dashboardPerStep: number;
  browserPerStep: number;
  /** The dashboard's and the browser's CPU seconds over the job's in the B windows. */
  pageCpuShare: number;
  /** The nats-server's CPU seconds per committed job step, in the A and in the B windows. */
  natsPerStep: { without: number; withPage: number };
  loads: number[];
}

/** The pid of the cluster's nats-server (from its ports file, `<name>_<pid>.ports`), 0 when not found. */
function natsPid(): number {
  const f = readdirSync(path.join(cluster, "nats")).find((name) => /_\d+\.ports$/.test(name));
  return f ? Number(/_(\d+)\.ports$/.exec(f)![1]) : 0;
}

/** What the bench reads of the job: its last committed step, its actors' restarts and CPU seconds so far. */
interface JobProbe {
  step(): Promise<number>;
  restarts(): Promise<number>;
  cpu(): Promise<number>;
}

/** `windows` windows A B B A … with the page on `m`'s CPUs. */
async function measure(m: Mode, job: JobProbe, chromiumBinary: string): Promise<ModeResult> {
  console.log(`${m.name}: the dashboard and the browser on CPUs ${m.page ?? "any"}`);
  const rates: { page: boolean; rate: number; load: number; restarts: number }[] = [];
  const cpu = { page: 0, dashboard: 0, job: 0, steps: 0 };
  const nats = { A: { cpu: 0, steps: 0 }, B: { cpu: 0, steps: 0 } };
  let open: Awaited<ReturnType<typeof openPage>> | undefined;
  for (let i = 0; i < windows; i++) {
    if (withPage(i) && !open) open = await openPage(m, chromiumBinary);
    if (!withPage(i) && open) {
      await open.close();
      open = undefined;
    }
    // the window starts once the page is drawn (or gone): on a loaded box that alone may take longer than `settle`
    const start = Date.now();
    await sleep(start + settle * 1000 - Date.now());
    const from = Date.now();
    const [step0, restarts0] = [await job.step(), await job.restarts()];
    const [job0, page0, dash0, nats0] = [await job.cpu(), descendantCpu(), open ? cpuSeconds(open.dashboardPid) : 0, cpuSeconds(natsPid())];
    await sleep(start + every * 1000 - Date.now());
    const n = (await job.step()) - step0;
    const restarts = (await job.restarts()) - restarts0;
    nats[open ? "B" : "A"].cpu += cpuSeconds(natsPid()) - nats0;
    nats[open ? "B" : "A"].steps += n;
    if (open) {
      const dash = cpuSeconds(open.dashboardPid) - dash0;
      cpu.page += cpuBetween(page0, descendantCpu());
      cpu.dashboard += dash;
      cpu.job += (await job.cpu()) - job0;
      cpu.steps += n;
    }
    const rate = n / ((Date.now() - from) / 1000);
    rates.push({ page: withPage(i), rate, load: os.loadavg()[0]!, restarts });
    console.log(
      `  window ${i + 1} ${withPage(i) ? "B (page open)" : "A (no page)  "}: ${rate.toFixed(1)} steps/s; load average ${load()}` +
        (restarts ? `; ${restarts} restart(s) of the job's actors: its pair is left out` : ""),
    );
  }
  await open?.close();
  // windows 2k and 2k+1 are one A and one B (A B, B A, A B, …): step time B / A = rate A / rate B; a pair in
  // which the job restarted an actor (a heartbeat missed on a starved CPU) measures the recovery, not the page
  const ratios = Array.from({ length: windows / 2 }, (_, k) => {
    const [x, y] = [rates[2 * k]!, rates[2 * k + 1]!];
    const [a, b] = x.page ? [y, x] : [x, y];
    return x.restarts + y.restarts ? undefined : a.rate / b.rate;
  }).filter((r) => r !== undefined);
  if (!ratios.length) throw new Error(`${m.name}: the job restarted an actor in every pair of windows: nothing measured`);
  const r: ModeResult = {
    ratios,
    leftOut: windows / 2 - ratios.length,
    cost: median(ratios) - 1,
    without: median(rates.filter((w) => !w.page).map((w) => w.rate)),
    open: median(rates.filter((w) => w.page).map((w) => w.rate)),
    dashboardPerStep: cpu.dashboard / cpu.steps,
    browserPerStep: (cpu.page - cpu.dashboard) / cpu.steps,
    pageCpuShare: cpu.page / cpu.job,
    natsPerStep: { without: nats.A.cpu / nats.A.steps, withPage: nats.B.cpu / nats.B.steps },
    loads: rates.map((w) => w.load),
  };
  console.log(
    `  ${m.name}: step time with the page / without, per pair: ${ratios.map((x) => x.toFixed(3)).join(" ")}; median ${(1 + r.cost).toFixed(3)} ` +
      `(${(100 * r.cost).toFixed(1)} %; median steps/s ${r.without.toFixed(2)} without, ${r.open.toFixed(2)} with` +
      `${r.leftOut ? `; ${r.leftOut} pair(s) with a restart left out` : ""})`,
  );
  console.log(
    `  ${m.name}: CPU per job step with the page open: dashboard ${(1000 * r.dashboardPerStep).toFixed(2)} ms, browser ${(1000 * r.browserPerStep).toFixed(2)} ms; ` +
      `together ${(100 * r.pageCpuShare).toFixed(1)} % of the job's CPU seconds; nats-server ` +
      `${(1000 * r.natsPerStep.without).toFixed(2)} ms per step without the page, ${(1000 * r.natsPerStep.withPage).toFixed(2)} ms with`,
  );
  return r;
}

/** Each of the job's processes on the job's CPUs, as /proc says; the lines that are not. */
function checkPinned(pids: Record<string, number | null | undefined>): string[] {
  if (!cpus) return [];
  const want = parseCpuList(cpus.job).join(",");
  return Object.entries(pids).flatMap(([id, pid]) => {
    const got = pid == null ? undefined : allowedCpus(pid)?.join(",");
    return got === want ? [] : [`${id} (pid ${pid ?? "-"}) may run on CPUs ${got ?? "?"}, not ${want}`];
  });
}

const round = (x: number) => Math.round(x * 10000) / 10000;
const figuresOf = (r: ModeResult) => ({
  stepTimeRatios: r.ratios.map(round),
  pairsLeftOut: r.leftOut,
  stepTimeCost: round(r.cost),
  stepsPerSecondWithout: round(r.without),
  stepsPerSecondWithPage: round(r.open),
  dashboardCpuSecondsPerStep: round(r.dashboardPerStep),
  browserCpuSecondsPerStep: round(r.browserPerStep),
  pageCpuShare: round(r.pageCpuShare),
  natsServerCpuSecondsPerStep: { without: round(r.natsPerStep.without), withPage: round(r.natsPerStep.withPage) },
  loadAverage: r.loads.map((x) => Math.round(x * 100) / 100),
});

try {
  writeFileSync(path.join(dir, "bench.yaml"), tinyDp2Yaml({ name: "bench", steps: 10000000, evalEvery: 200, checkpointEvery: 10000000 }));
  const chromiumBinary = chromiumPath();
  if (typeof split === "string")
    console.log(`no disjoint CPU sets (${split}): only the shared windows run, and the target is read from them`);
  else
    console.log(
      `CPUs: the job's processes on ${split.job}, the dashboard and the browser on ${split.page} (isolated) or ${split.job} (shared)`,
    );
  await troupe("up");
  const info = readClusterInfo(cluster);
  const nc = await connectNats({ url: info.url, token: readToken(info.tokenFile), name: "bench-dashboard" });
  const ns = namespace(info.clusterId);
  const jsm = await jetstreamManager(nc);
  // the job's last commit, one message get (reading every event would itself cost the job's nats-server)
  const commitSubject = `${ns.eventsFilter.slice(0, -1)}step-committed.bench`;
  const lastStep = async () => {
    const m = await jsm.streams.getMessage(ns.eventsStream, { last_by_subj: commitSubject }).catch(() => null);
    const e = m ? parseEvent(m.data) : "none yet";
    return typeof e !== "string" && typeof e.data.step === "number" ? e.data.step : 0;
  };
  await troupe("train", path.join(dir, "bench.yaml"), "--detach", "--name", "bench", "--run-dir", path.join(dir, "bench"), "--no-samples");
  await pollUntil(async () => ((await lastStep()) >= 20 ? true : undefined), { what: "the job stepping", timeoutMs: 180_000 });
  const registry = await Registry.open(nc, ns);
  const ids = ["bench-w0", "bench-w1", "bench-coordinator"];
  const jobPids = async () =>
    Object.fromEntries(await Promise.all(ids.map(async (id) => [id, (await registry.getActor(id))?.pid] as const)));
  const job: JobProbe = {
    step: lastStep,
    restarts: async () =>
      (await Promise.all(ids.map(async (id) => (await registry.getActor(id))?.restarts ?? 0))).reduce((a, b) => a + b, 0),
    cpu: async () => Object.values(await jobPids()).reduce((s: number, pid) => s + (pid ? cpuSeconds(pid) : 0), 0),
  };
  // a fresh job's rate climbs over its first tens of seconds: a first window without the page would be the slowest
  console.log(`dp 2 job stepping; ${warmup} s of warm-up`);
  await sleep(warmup * 1000);
  const unpinned = checkPinned(await jobPids());
  for (const line of unpinned) console.log(`warning: ${line}: the isolated figure is not isolated`);
  console.log(
    `dp 2 job stepping; ${windows} windows of ${every} s per mode (first ${settle} s of each not counted); load average ${load()}`,
  );
  const modes: Mode[] = cpus
    ? [
        { name: "isolated", page: cpus.page },
        { name: "shared", page: cpus.job },
      ]
    : [{ name: "shared", page: undefined }];
  const results: Partial<Record<Mode["name"], ModeResult>> = {};
  for (const m of modes) results[m.name] = await measure(m, job, chromiumBinary);
  await troupe("stop", "bench").catch(() => undefined);
  await nc.close();
  const target = results.isolated ?? results.shared!;
  const cost = target.cost;
  console.log(
    `target (${results.isolated ? "isolated" : "shared: no disjoint CPU sets here"}): the page open costs ${(100 * cost).toFixed(1)} % step time ` +
      `(≤ ${100 * TARGET} %: ${cost <= TARGET ? "met" : "not met"})`,
  );
  console.log(
    JSON.stringify({
      bench: "dashboard",
      figures: {
        cpuSets: cpus ? { job: cpus.job, page: cpus.page, jobProcessesPinned: unpinned.length === 0 } : null,
        ...(results.isolated ? { isolated: figuresOf(results.isolated) } : {}),
        shared: figuresOf(results.shared!),
      },
      targets: {
        stepTimeCost: { op: "<=", value: TARGET, actual: Math.round(cost * 1000) / 1000, met: cost <= TARGET },
      },
    }),
  );
} finally {
  await troupe("down").catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
