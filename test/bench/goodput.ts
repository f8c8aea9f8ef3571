// Benchmark: goodput of the 2×2×2 tiny job under one SIGKILL of a random worker every S seconds for N minutes:
// committed steps / steps a failure-free run of the same job commits in the same time (measured first, same run).
// Usage: npm run bench -- goodput [--minutes N] [--every S] [--seed K]   (defaults: 10 minutes, every 30 s)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { killRandomWorker, runTimedJob, seededRandom, sleep, type TimedJobResult } from "./recovery/timed-job.ts";

const { values } = parseArgs({ options: { minutes: { type: "string", default: "10" }, every: { type: "string", default: "30" }, seed: { type: "string", default: "1" } } });
const minutes = Number(values.minutes);
const every = Number(values.every);
const seed = Number(values.seed);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got '${values.minutes}'`);
if (!(every > 0)) throw new Error(`--every must be a positive number of seconds, got '${values.every}'`);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got '${values.seed}'`);
const seconds = minutes * 60;

/** Steps committed within the measured window (the step in flight when the window closes is not counted). */
const committedIn = (r: TimedJobResult) => r.run.steps.filter((s) => s.time >= r.startedAt && s.time <= r.startedAt + seconds * 1000).length;

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-goodput-"));
try {
  console.log(`failure-free run: ${minutes} min`);
  const clean = await runTimedJob({ dir, name: "goodclean", seconds });
  const baseline = committedIn(clean);
  console.log(`failure-free: ${baseline} steps in ${seconds} s (${(baseline / seconds).toFixed(2)} steps/s)`);

  console.log(`faulty run: ${minutes} min, one SIGKILL of a random worker every ${every} s`);
  const random = seededRandom(seed);
  let kills = 0;
  const faulty = await runTimedJob({
    dir,
    name: "goodfaulty",
    seconds,
    drive: async (c) => {
      const end = Date.now() + seconds * 1000;
      for (let t = Date.now() + every * 1000; t < end; t += every * 1000) {
        await sleep(t - Date.now());
        const f = killRandomWorker(c, random);
        if (f) {
          kills++;
          console.log(`  SIGKILL ${f.id} (pid ${f.pid}) at +${((f.at - (end - seconds * 1000)) / 1000).toFixed(1)} s`);
        }
      }
    },
  });
  const committed = committedIn(faulty);
  const goodput = committed / baseline;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  console.log(`under faults: ${committed} steps in ${seconds} s, ${kills} SIGKILLs, ${faulty.recoveries.length} recoveries`);
  console.log(`goodput: ${r3(goodput)} of the failure-free rate`);
  console.log(
    JSON.stringify({
      bench: "goodput",
      figures: { minutes, every_s: every, kills, recoveries: faulty.recoveries.length, baseline_steps: baseline, faulty_steps: committed, goodput: r3(goodput) },
      targets: { goodput: { op: ">=", value: 0.9, actual: r3(goodput), met: goodput >= 0.9 } },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
