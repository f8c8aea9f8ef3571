// Benchmark: time from SIGKILL of a random worker of a live 2×2×2 job to the job's next committed step.
// Each kill waits for the previous recovery to finish, then `settle` seconds (the host agent refills its warm spare
// a few seconds after using one: failures seconds apart find a cold start). Per kill it prints where the time
// went (kill-trace.ts), and whether the replacement was a warm spare.
// Usage: npm run bench -- recovery [kills] [seed] [settle seconds]   (defaults: 20 kills, seed 1, 6 s)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { formatTrace, phases, traceKill, wasWarm, withFirstCommits, type KillTrace } from "./recovery/kill-trace.ts";
import { killRandomWorker, quantile, runTimedJob, seededRandom, sleep } from "./recovery/timed-job.ts";

const kills = Number(process.argv[2] ?? 20);
const seed = Number(process.argv[3] ?? 1);
const settle = Number(process.argv[4] ?? 6);
if (!Number.isInteger(kills) || kills < 1) throw new Error(`kills must be a positive integer, got '${process.argv[2]}'`);
if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got '${process.argv[3]}'`);
if (!(settle >= 0)) throw new Error(`settle must be a number of seconds ≥ 0, got '${process.argv[4]}'`);

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-recovery-"));
const random = seededRandom(seed);
const pending: Promise<KillTrace>[] = [];
const loadAtStart = os.loadavg()[0]!.toFixed(2);
try {
  const { run, recoveries } = await runTimedJob({
    dir,
    name: "benchrec",
    drive: async (c, recovered) => {
      await sleep(Math.max(2000, settle * 1000));
      while (pending.length < kills) {
        const next = recovered();
        const f = killRandomWorker(c, random);
        if (!f) {
          await sleep(100);
          continue;
        }
        pending.push(traceKill(c, f, next));
        await Promise.race([next, sleep(60_000).then(() => Promise.reject(new Error(`no recovery within 60 s of killing ${f.id}`)))]);
        await sleep(settle * 1000);
      }
    },
  });
  const traces = withFirstCommits(
    await Promise.all(pending),
    run.steps.map((s) => s.time),
  );
  const latencies = traces.map((t) => {
    if (t.firstCommitAt === undefined) throw new Error(`no committed step after the kill of ${t.id}`);
    return (t.firstCommitAt - t.at) / 1000;
  });
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  for (const [i, t] of traces.entries()) console.log(`kill ${String(i + 1).padStart(2)}: ${formatTrace(t)}`);
  const p50 = quantile(latencies, 0.5);
  const p95 = quantile(latencies, 0.95);
  const restore = quantile(
    recoveries.map((r) => r.restoreSeconds),
    0.5,
  );
  const warm = traces.filter(wasWarm).length;
  const ph = traces.map(phases).filter((p) => p !== undefined);
  const medians = Object.fromEntries(
    Object.keys(ph[0] ?? {}).map((k) => [
      k,
      r3(
        quantile(
          ph.map((p) => p[k]!),
          0.5,
        ),
      ),
    ]),
  );
  const load = os.loadavg()[0]!.toFixed(2);
  console.log(
    `${traces.length} SIGKILLs, ${recoveries.length} recoveries (${recoveries.filter((r) => r.source === "peer").length} from a DP peer, ${warm} replacements were warm spares), ${run.steps.length} steps committed`,
  );
  console.log(
    `SIGKILL → next committed step: p50 ${p50.toFixed(3)} s, p95 ${p95.toFixed(3)} s, max ${Math.max(...latencies).toFixed(3)} s; state transfer p50 ${restore.toFixed(3)} s`,
  );
  console.log(
    `median seconds per phase: ${Object.entries(medians)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; load average ${loadAtStart} at start, ${load} at end`,
  );
  console.log(
    JSON.stringify({
      bench: "recovery",
      figures: {
        kills: traces.length,
        recoveries: recoveries.length,
        warm_spares: warm,
        settle_s: settle,
        p50_s: r3(p50),
        p95_s: r3(p95),
        max_s: r3(Math.max(...latencies)),
        restore_p50_s: r3(restore),
        phase_medians_s: medians,
        steps: run.steps.length,
        load_average: [Number(loadAtStart), Number(load)],
      },
      targets: { p95_s: { op: "<=", value: 2, actual: r3(p95), met: p95 <= 2 } },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
