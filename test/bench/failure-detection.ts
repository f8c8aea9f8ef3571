// Benchmark: time from SIGKILL of an actor process to its record showing `failed` (seen by a KV
// watcher, as `troupe ps --watch` sees it), and to the actor being `alive` again with a new pid.
// Real nats-server, real host agent, real actor processes. Usage: npm run bench -- failure-detection [trials]
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startNatsServer } from "../../runtime/nats-server.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { actorArgv, startTestCluster } from "../cluster/harness.ts";

const trials = Number(process.argv[2] ?? 20);
if (!Number.isInteger(trials) || trials < 1) throw new Error(`trials must be a positive integer, got '${process.argv[2]}'`);

const r1 = (x: number) => Math.round(x * 10) / 10;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-fd-"));
const server = await startNatsServer({ dir });
const cluster = await startTestCluster({
  url: server.url,
  backoff: { initialMs: 0, maxMs: 0, jitter: 0 },
  intensity: { maxRestarts: trials + 10, periodMs: 600_000 },
  children: [
    { id: "victim", argv: actorArgv() },
    { id: "bystander", argv: actorArgv() },
  ],
});

const waiters: { pred: (r: ActorRecord) => boolean; resolve: (t: number) => void }[] = [];
const ctl = new AbortController();
void cluster.registry.watchActors((rec) => {
  const now = performance.now();
  for (let k = waiters.length - 1; k >= 0; k--) {
    if (waiters[k]!.pred(rec)) {
      waiters[k]!.resolve(now);
      waiters.splice(k, 1);
    }
  }
}, ctl.signal);
const seen = (pred: (r: ActorRecord) => boolean) => new Promise<number>((resolve) => waiters.push({ pred, resolve }));

const toFailed: number[] = [];
const toAlive: number[] = [];
try {
  let current = await cluster.waitFor("victim", (r) => r.state === "alive");
  const bystanderPid = (await cluster.waitFor("bystander", (r) => r.state === "alive")).pid;
  for (let t = 0; t < trials; t++) {
    const pid = current.pid!;
    const failed = seen((r) => r.id === "victim" && r.state === "failed" && r.pid === pid);
    const alive = seen((r) => r.id === "victim" && r.state === "alive" && r.pid !== pid);
    const t0 = performance.now();
    process.kill(pid, "SIGKILL");
    const tf = await failed;
    const ta = await alive;
    toFailed.push(tf - t0);
    toAlive.push(ta - t0);
    console.log(
      `trial ${String(t + 1).padStart(2)}: failed after ${(tf - t0).toFixed(1)} ms, alive again after ${(ta - t0).toFixed(0)} ms`,
    );
    current = await cluster.record("victim");
    await new Promise((r) => setTimeout(r, 100));
  }
  const bystander = await cluster.record("bystander");
  if (bystander.pid !== bystanderPid) throw new Error("the bystander actor was restarted: supervision is not one_for_one");
} finally {
  ctl.abort();
  await cluster.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const f50 = quantile(toFailed, 0.5);
const f95 = quantile(toFailed, 0.95);
const a50 = quantile(toAlive, 0.5);
const a95 = quantile(toAlive, 0.95);
console.log(`SIGKILL → failed: p50 ${f50.toFixed(1)} ms, p95 ${f95.toFixed(1)} ms (${trials} trials)`);
console.log(`SIGKILL → alive:  p50 ${a50.toFixed(0)} ms, p95 ${a95.toFixed(0)} ms (includes starting a new Node process)`);
console.log(
  JSON.stringify({
    bench: "failure-detection",
    figures: { trials, failed_p50_ms: r1(f50), failed_p95_ms: r1(f95), alive_p50_ms: r1(a50), alive_p95_ms: r1(a95) },
    targets: { failed_p95_ms: { op: "<=", value: 250, actual: r1(f95), met: f95 <= 250 } },
  }),
);
