// Benchmark: time from SIGKILL of a random worker of a live 2×2×2 job to the job's next committed step.
// Each kill waits for the previous recovery to finish. Usage: npm run bench -- recovery [kills] [seed]
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { killRandomWorker, quantile, runTimedJob, seededRandom, sleep } from "./recovery/timed-job.ts";

const kills = Number(process.argv[2] ?? 20);
const seed = Number(process.argv[3] ?? 1);
if (!Number.isInteger(kills) || kills < 1) throw new Error(`kills must be a positive integer, got '${process.argv[2]}'`);
if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got '${process.argv[3]}'`);

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-recovery-"));
const random = seededRandom(seed);
const faults: { id: string; at: number }[] = [];
try {
  const { run, recoveries } = await runTimedJob({
    dir,
    name: "benchrec",
    drive: async (c, recovered) => {
      await sleep(2000);
      while (faults.length < kills) {
        const next = recovered();
        const f = killRandomWorker(c, random);
        if (!f) {
          await sleep(100);
          continue;
        }
        faults.push(f);
        await Promise.race([next, sleep(60_000).then(() => Promise.reject(new Error(`no recovery within 60 s of killing ${f.id}`)))]);
        await sleep(500); // let the job commit a few steps before the next fault
      }
    },
  });
  const latencies = faults.map((f) => {
    const next = run.steps.find((s) => s.time > f.at);
    if (!next) throw new Error(`no committed step after the kill of ${f.id}`);
    return (next.time - f.at) / 1000;
  });
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  for (const [i, f] of faults.entries()) console.log(`kill ${i + 1}: ${f.id} → next committed step after ${latencies[i]!.toFixed(3)} s`);
  const p50 = quantile(latencies, 0.5);
  const p95 = quantile(latencies, 0.95);
  const restore = quantile(recoveries.map((r) => r.restoreSeconds), 0.5);
  console.log(`${faults.length} SIGKILLs, ${recoveries.length} recoveries (${recoveries.filter((r) => r.source === "peer").length} from a DP peer), ${run.steps.length} steps committed`);
  console.log(`SIGKILL → next committed step: p50 ${p50.toFixed(3)} s, p95 ${p95.toFixed(3)} s, max ${Math.max(...latencies).toFixed(3)} s; state transfer p50 ${restore.toFixed(3)} s`);
  console.log(
    JSON.stringify({
      bench: "recovery",
      figures: { kills: faults.length, recoveries: recoveries.length, p50_s: r3(p50), p95_s: r3(p95), max_s: r3(Math.max(...latencies)), restore_p50_s: r3(restore), steps: run.steps.length },
      targets: { p95_s: { op: "<=", value: 2, actual: r3(p95), met: p95 <= 2 } },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
