// `troupe chaos --job J --every 30s --for 10m`: at each tick, a random live worker of the job gets a signal through
// its host agent (KILL: a crash; STOP: a hang the supervisor must detect). Each fault is published as a
// `chaos.fault` event and printed; the summary counts the faults whose worker was restored (`worker.restored`).
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import { ConfigError } from "../../runtime/errors.ts";
import { mulberry32 } from "../../ml/data/seeded-random.ts";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { call } from "../../runtime/rpc.ts";
import type { StoredEvent } from "../../runtime/event-log.ts";
import { jobControlSubject, type JobDescription } from "../../actors/coordinator/control.ts";
import { addClusterOptions, withCluster, type ClusterOptions, type OpenCluster } from "../cluster/cluster-options.ts";
import { signalName } from "./kill.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "30s", "1.5m", "2h" → milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new UsageError(`--${flag} must be a duration like 500ms, 30s, 10m or 1h, got '${text}'`);
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  if (ms <= 0) throw new UsageError(`--${flag} must be longer than 0, got '${text}'`);
  return ms;
}

/** The victims' generator: `--seed` replays the same choice of victims. */
export const seededRandom = mulberry32;

export interface LiveWorker {
  id: string;
  pid: number;
  host: string;
}

export function pickVictim(live: readonly LiveWorker[], random: () => number): LiveWorker | undefined {
  if (live.length === 0) return undefined;
  return live[Math.min(live.length - 1, Math.floor(random() * live.length))];
}

export interface Fault {
  actor: string;
  pid: number;
  signal: string;
  time: number;
}

/** Faults followed by a `worker.restored` event for the same worker (each restore answers one fault). */
export function recoveredFaults(faults: readonly Fault[], events: readonly StoredEvent[]): Fault[] {
  const restores = events.filter((e) => e.type === "worker.restored").map((e) => ({ actor: e.subject, time: e.time, used: false }));
  return faults.filter((f) => {
    const r = restores.find((x) => !x.used && x.actor === f.actor && x.time >= f.time);
    if (r) r.used = true;
    return r !== undefined;
  });
}

/** Worker lifecycle states in which the job is stepping normally (no load, restore or recovery under way). */
const SERVING = new Set(["idle", "stepping", "applying", "checkpointing"]);

/**
 * The job's workers whose process is up, from the registry, and none while a recovery is under way: a fault
 * injected then could take the last live copy of a shard (the replacement of the previous victim is alive
 * but has not restored its state from its peer yet), which no recovery can survive.
 */
async function liveWorkers(c: OpenCluster, lifecycles: LifecycleStore, job: JobDescription): Promise<LiveWorker[]> {
  const states = await Promise.all(job.workers.map((w) => lifecycles.get("worker", w.id)));
  if (states.some((s) => !s || typeof s.value !== "string" || !SERVING.has(s.value))) return [];
  const recs = await Promise.all(job.workers.map((w) => c.registry.getActor(w.id)));
  const live = recs.flatMap((r) =>
    r && r.state === "alive" && r.pid !== null && r.host !== null ? [{ id: r.id, pid: r.pid, host: r.host }] : [],
  );
  // a worker that is not alive was just lost: its recovery has not started yet
  return live.length === job.workers.length ? live : [];
}

interface ChaosOptions extends ClusterOptions {
  job: string;
  every: string;
  for: string;
  signal: string;
  seed?: string;
  settle: string;
}

export function register(program: Command): void {
  const cmd = program
    .command("chaos")
    .description(summaryOf("chaos"))
    .requiredOption("--job <id>", "training job to disturb")
    .option("--every <duration>", "time between faults (500ms, 30s, 2m, …)", "30s")
    .option("--for <duration>", "how long to keep injecting faults", "10m")
    .option("-s, --signal <signal>", "KILL (crash) or STOP (hang: the supervisor must detect and replace it)", "KILL")
    .option("--seed <n>", "seed of the victim choice (default: random)")
    .option("--settle <duration>", "after the last fault, how long to wait for its recovery before the summary", "30s")
    .addHelpText("after", "\nExample:\n  troupe chaos --job brown-3d --every 30s --for 10m --signal KILL --seed 7");
  addClusterOptions(cmd).action(async (opts: ChaosOptions) => {
    const every = parseDuration("every", opts.every);
    const total = parseDuration("for", opts.for);
    const settle = parseDuration("settle", opts.settle);
    const signal = signalName(opts.signal);
    if (signal !== "SIGKILL" && signal !== "SIGSTOP") throw new UsageError(`--signal must be KILL or STOP, got '${opts.signal}'`);
    if (opts.seed !== undefined && !/^\d+$/.test(opts.seed)) throw new UsageError(`--seed must be a whole number, got '${opts.seed}'`);
    const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(opts.seed);
    const random = seededRandom(seed);
    await withCluster(opts, async (c) => {
      const subject = jobControlSubject(c.ns, opts.job);
      const describe = () => call(c.nc, subject, { describe: true }) as Promise<JobDescription>;
      const job = await describe().catch((err: Error) => {
        throw new ConfigError(`unknown job '${opts.job}': ${err.message}`);
      });
      const lifecycles = await LifecycleStore.open(c.nc, c.ns);
      const say = (line: string) => (opts.json ? undefined : console.log(line));
      say(`chaos on job ${job.jobId} (${job.workers.length} workers): ${signal} every ${opts.every} for ${opts.for}, seed ${seed}`);
      const faults: Fault[] = [];
      const start = Date.now();
      for (let tick = 1; Date.now() - start < total; tick++) {
        const victim = pickVictim(await liveWorkers(c, lifecycles, job), random);
        if (!victim) say(`tick ${tick}: no live worker (a recovery is under way); skipped`);
        else {
          const reply = (await call(c.nc, c.ns.agentSubject(victim.host, "kill"), { actorId: victim.id, signal, pid: victim.pid })) as {
            pid: number;
          };
          const fault = { actor: victim.id, pid: reply.pid, signal, time: Date.now() };
          faults.push(fault);
          await c.events.publish(
            {
              type: "chaos.fault",
              subject: victim.id,
              time: fault.time,
              data: { actor: victim.id, pid: reply.pid, signal, host: victim.host, seed },
            },
            randomUUID(),
          );
          if (opts.json) console.log(JSON.stringify({ fault: fault }));
          else say(`fault ${faults.length}: ${signal} → ${victim.id} (pid ${reply.pid} on ${victim.host})`);
        }
        const next = start + tick * every;
        if (next - start >= total) break;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      let recovered: Fault[] = [];
      const settleEnd = Date.now() + settle;
      for (;;) {
        recovered = recoveredFaults(faults, await c.events.readAll());
        if (recovered.length === faults.length || Date.now() >= settleEnd) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (opts.json) console.log(JSON.stringify({ job: job.jobId, seed, signal, faults: faults.length, recovered: recovered.length }));
      else say(`summary: ${faults.length} fault(s) injected, ${recovered.length} recovered (worker.restored events)`);
    });
  });
}
