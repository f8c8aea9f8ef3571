// Benchmark: goodput of a 2×2×2 job under one SIGKILL of a random worker every S seconds for N minutes:
// committed steps / steps a failure-free run of the same job commits in the same time. The job's model: `tiny`
// (default, the recovery bench's) steps in 45 ms, mostly messaging, so the replacement's first seconds of JIT-cold
// code weigh about as much as the pause; `small` steps about twice a second, mostly arithmetic, as a real job does.
// Fair on a shared machine, where the load from other processes changes by the minute: both sides are measured
// in ONE job, in alternating windows of S seconds, failure-free (A) and faulty (B) in the order A B B A A B B A …,
// so a change of load, a slow start or a drift hits both sides alike. Each faulty window gets one SIGKILL, a third
// of the way in, and the recovery and whatever it costs afterwards (the agent refilling its warm spare, a cold
// replacement) fall inside that window: its steps count against the faulty side. The faulty windows laid end to
// end are N minutes with one kill every S seconds; the failure-free windows are N minutes without.
// Per kill it prints where the time went (kill-trace.ts) and the step rate before and after the recovery.
// Usage: npm run bench -- goodput [--model tiny|small] [--minutes N] [--every S] [--seed K]
//   (defaults: tiny, 10 minutes, every 30 s)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { formatTrace, phases, traceKill, wasWarm, withFirstCommits, type KillTrace } from "./recovery/kill-trace.ts";
import { rateProfile } from "./recovery/rate-profile.ts";
import { killRandomWorker, runTimedJob, seededRandom, sleep } from "./recovery/timed-job.ts";

/** tiny: the recovery bench's job, a 45 ms step of mostly messaging; small: a step of ~0.4 s, mostly arithmetic. */
const MODELS = {
  tiny: { dModel: 16, heads: 2, seqLen: 8, samplesPerReplica: 4 },
  small: { dModel: 256, heads: 4, seqLen: 128, samplesPerReplica: 8 },
};
const { values } = parseArgs({
  options: {
    model: { type: "string", default: "tiny" },
    minutes: { type: "string", default: "10" },
    every: { type: "string", default: "30" },
    seed: { type: "string", default: "1" },
  },
});
const minutes = Number(values.minutes);
const every = Number(values.every);
const seed = Number(values.seed);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got '${values.minutes}'`);
if (!(every >= 6))
  throw new Error(`--every must be a number of seconds ≥ 6 (a kill needs time to recover within its window), got '${values.every}'`);
const size = Object.hasOwn(MODELS, values.model!) ? MODELS[values.model as keyof typeof MODELS] : undefined;
if (!size) throw new Error(`--model must be one of ${Object.keys(MODELS).join(", ")}, got '${values.model}'`);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got '${values.seed}'`);

/** Windows per side; ABBA order: window i is faulty when i mod 4 is 1 or 2. */
const perSide = Math.max(1, Math.round((minutes * 60) / every));
const faultyWindow = (i: number) => i % 4 === 1 || i % 4 === 2;
/** Steps after start-up are not measured: a fresh worker's code takes about 30 s to be optimized by the JIT. */
const WARMUP_S = 40;
const windowMs = every * 1000;
const killOffsetMs = windowMs / 3;

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-goodput-"));
const random = seededRandom(seed);
const load = () => os.loadavg()[0]!.toFixed(2);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
const loadAtStart = load();
let windowsFrom = 0;

try {
  console.log(
    `${values.model} model (${JSON.stringify(size)}); one job, ${2 * perSide} windows of ${every} s after ${WARMUP_S} s of warm-up, failure-free and faulty alternating (ABBA), one SIGKILL ${r3(killOffsetMs / 1000)} s into each faulty window; load average ${loadAtStart}`,
  );
  const pending: Promise<KillTrace>[] = [];
  const run = await runTimedJob({
    dir,
    name: "goodput",
    size,
    drive: async (c, recovered) => {
      windowsFrom = Date.now() + WARMUP_S * 1000;
      for (let i = 0; i < 2 * perSide; i++) {
        const start = windowsFrom + i * windowMs;
        if (!faultyWindow(i)) continue;
        await sleep(start + killOffsetMs - Date.now());
        const next = recovered();
        const f = killRandomWorker(c, random);
        if (f) {
          const k = pending.length + 1;
          const at = ((f.at - windowsFrom) / 1000).toFixed(1);
          const trace = traceKill(c, f, next);
          void trace.then((t) =>
            console.log(
              `  kill ${k}/${perSide} at +${at} s: ${f.id} recovered after ${t.recoveredAt ? ((t.recoveredAt - t.at) / 1000).toFixed(2) : "?"} s${wasWarm(t) ? " (warm spare)" : ""}; load average ${load()}`,
            ),
          );
          pending.push(trace);
        } else console.log(`  window ${i + 1}: no live worker to kill`);
      }
      await sleep(windowsFrom + 2 * perSide * windowMs - Date.now());
    },
  });
  const commits = run.run.steps.map((s) => s.time);
  const traces = withFirstCommits(await Promise.all(pending), commits);
  const count = (from: number, to: number) => commits.filter((t) => t >= from && t < to).length;
  let clean = 0;
  let faulty = 0;
  const windows: number[] = [];
  for (let i = 0; i < 2 * perSide; i++) {
    const n = count(windowsFrom + i * windowMs, windowsFrom + (i + 1) * windowMs);
    windows.push(n);
    if (faultyWindow(i)) faulty += n;
    else clean += n;
  }
  for (const t of traces) console.log(`  kill at +${((t.at - windowsFrom) / 1000).toFixed(1)} s  ${formatTrace(t)}`);
  console.log(`steps per window (A = failure-free, B = faulty): ${windows.map((n, i) => `${faultyWindow(i) ? "B" : "A"}${n}`).join(" ")}`);
  // the kill's cost in steps, against the mean of the neighbouring failure-free windows
  const rateAround = (t: KillTrace, side: -1 | 1) => {
    const from = side < 0 ? t.at - killOffsetMs : (t.firstCommitAt ?? t.at);
    return count(from, from + killOffsetMs) / (killOffsetMs / 1000);
  };
  const before = traces.map((t) => rateAround(t, -1));
  const after = traces.map((t) => rateAround(t, 1));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const kills = traces.length;
  const goodput = faulty / clean;
  const seconds = perSide * every;
  const lostPerKill = (clean - faulty) / kills;
  const ph = traces.map(phases).filter((p) => p !== undefined);
  const medians = Object.fromEntries(Object.keys(ph[0] ?? {}).map((k) => [k, r3(median(ph.map((p) => p[k]!)))]));
  const warm = traces.filter(wasWarm).length;
  console.log(
    `failure-free windows: ${clean} steps in ${seconds} s (${(clean / seconds).toFixed(2)} steps/s); faulty windows: ${faulty} steps, ${kills} SIGKILLs, ${run.recoveries.length} recoveries (${warm} replacements were warm spares)`,
  );
  console.log(
    `each kill costs ${lostPerKill.toFixed(1)} steps (${(lostPerKill / (clean / seconds)).toFixed(2)} s of failure-free stepping)`,
  );
  console.log(
    `median seconds per phase: ${Object.entries(medians)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  console.log(
    `step rate ${r3(killOffsetMs / 1000)} s before a kill ${mean(before).toFixed(2)}/s, ${r3(killOffsetMs / 1000)} s after its first commit ${mean(after).toFixed(2)}/s`,
  );
  const profile = rateProfile(
    commits,
    traces.map((t) => t.at),
    3,
    Math.round(every - killOffsetMs / 1000),
  );
  console.log(`steps/s by second around a kill (mean over kills): ${profile.map((x, i) => `${i - 3}:${x.toFixed(1)}`).join(" ")}`);
  console.log(`goodput: ${r3(goodput)} of the failure-free rate; load average ${loadAtStart} at start, ${load()} at end`);
  console.log(
    JSON.stringify({
      bench: "goodput",
      figures: {
        model: values.model,
        method: `one job, ABBA-alternating ${every} s windows`,
        minutes_each_side: r3(seconds / 60),
        every_s: every,
        kills,
        recoveries: run.recoveries.length,
        warm_spares: warm,
        baseline_steps: clean,
        faulty_steps: faulty,
        goodput: r3(goodput),
        lost_seconds_per_kill: r3(lostPerKill / (clean / seconds)),
        phase_medians_s: medians,
        rate_before_after: [r3(mean(before)), r3(mean(after))],
        rate_by_second_from_kill: profile.map((x) => Math.round(x * 10) / 10),
        load_average: [Number(loadAtStart), Number(load())],
      },
      targets: { goodput: { op: ">=", value: 0.9, actual: r3(goodput), met: goodput >= 0.9 } },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
