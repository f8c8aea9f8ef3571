// The multihost benchmark's second half: whole-host loss → the job's next committed step. A 2×1×2 job runs on a
// troupe cluster in network namespaces (host1: nats-server, services, coordinator; host2..host4: 2 slots each), so
// replica 0 sits on host2 and replica 1 on host3 with host4 spare. Each repetition takes down the link of the host
// that holds replica 1 and SIGKILLs every process on it; the job goes on with replacements on the spare host, from
// the live replica. The lost host is then brought back, empty, as the next spare.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { pollUntil } from "../../../runtime/async.ts";
import type { Host, NetCluster } from "../../multihost/netns.ts";

export interface HostLoss {
  host: string;
  /** Loss → the first step committed after it (s). */
  seconds: number;
  /** Loss → the coordinator saw the first worker lost (s): silence, the heartbeat kill timeout. */
  detectSeconds: number;
  /** The recoveries' own figures (detection → job ready again; the state transfer). */
  recoverSeconds: number;
  restoreSeconds: number;
  source: string;
  /** How many replacements were warm spares (their pid was a spare of a host's agent before the loss). */
  warm: number;
  /** Replacements: the slowest from its spawn (`starting`) to its first heartbeat (`alive`) (s). */
  startSeconds: number;
}

interface Ev {
  type: string;
  subject: string;
  time: number;
  data: Record<string, unknown>;
}

const JOB = "hlbench";

function config(dir: string): string {
  const file = path.join(dir, "hlbench.yaml");
  writeFileSync(
    file,
    `name: ${JOB}
seed: 3
threads: 1
logInterval: 1000
parallel: {dp: 2, pp: 1, tp: 2}
model: {layers: 2, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1, cacheDir: ${JSON.stringify(path.join(dir, "data"))}}
optimizer: {lr: 0.01}
batch: {size: 4, microBatch: 1}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: 1000000}
eval: {interval: 1000000, batches: 1}
checkpoint: {interval: 1000000, keep: 1}
recovery: {maxRestarts: 100, periodSeconds: 60}
`,
  );
  return file;
}

async function events(c: NetCluster): Promise<Ev[]> {
  const r = await c.troupe(c.head, "events", "--json", "--cluster", c.dir);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Ev);
}

/** The host that runs replica 1 now, and how many workers it holds. */
async function replicaOneHost(c: NetCluster): Promise<{ name: string; workers: number; ids: string[]; pids: (number | null)[] }> {
  const r = await c.troupe(c.head, "ps", "--job", JOB, "--json", "--cluster", c.dir);
  const rows = JSON.parse(r.stdout || "[]") as { id: string; host: string | null; pid: number | null; coords: { d: number } | null }[];
  const replica = rows.filter((w) => w.id.startsWith(`${JOB}-w`) && w.coords?.d === 1);
  const hosts = new Set(replica.map((w) => w.host));
  if (hosts.size !== 1) throw new Error(`replica 1 is not on one live host: ${[...hosts].join(", ")}`);
  return { name: [...hosts][0]!, workers: replica.length, ids: replica.map((w) => w.id), pids: replica.map((w) => w.pid) };
}

/** The pids of every warm spare the hosts' agents hold now (their host records). */
async function sparePids(c: NetCluster): Promise<Set<number>> {
  const recs = (await c.hostRecords()) as { spares?: { pids: number[] } }[];
  return new Set(recs.flatMap((r) => r.spares?.pids ?? []));
}

/** The replacements' slowest spawn → first heartbeat after `t` (s). */
function startSeconds(ev: Ev[], ids: string[], t: number): number {
  const first = (id: string, to: string) =>
    ev.find((e) => e.type === "actor.transition" && e.subject === id && e.time > t && e.data.to === to)?.time ?? NaN;
  return Math.max(...ids.map((id) => (first(id, "alive") - first(id, "starting")) / 1000));
}

const restoredAfter = (ev: Ev[], t: number) =>
  ev.filter((e) => e.type === "worker.restored" && e.subject.startsWith(`${JOB}-`) && e.time > t);

/**
 * Once the `lost` workers lost at `t` are restored and a step is committed after that (a step that was reduced before
 * the loss may still commit after it: it is not the job going on without the host), the events.
 */
async function recoveredAfter(c: NetCluster, t: number, lost: number, timeoutMs: number): Promise<Ev[]> {
  return pollUntil(
    async () => {
      const ev = await events(c);
      const restored = restoredAfter(ev, t);
      if (restored.length < lost) return undefined;
      const last = Math.max(...restored.map((e) => e.time));
      return ev.some((e) => e.type === "step.committed" && e.subject === JOB && e.time > last) ? ev : undefined;
    },
    { what: `${lost} workers restored and a step committed after the loss`, timeoutMs, everyMs: 250 },
  );
}

async function committedAfter(c: NetCluster, t: number, timeoutMs: number): Promise<Ev[]> {
  return pollUntil(
    async () => {
      const ev = await events(c);
      return ev.some((e) => e.type === "step.committed" && e.subject === JOB && e.time > t) ? ev : undefined;
    },
    { what: "a step committed after the loss", timeoutMs, everyMs: 500 },
  );
}

/** Losses `reps` times over; `settleMs` between a recovery and the next loss (the spare host's agent refills its spare). */
export async function measureHostLosses(c: NetCluster, dir: string, reps: number, settleMs: number): Promise<HostLoss[]> {
  const submit = await c.troupe(
    c.head,
    "train",
    config(dir),
    "--name",
    JOB,
    "--run-dir",
    path.join(dir, JOB),
    "--detach",
    "--cluster",
    c.dir,
  );
  if (submit.code !== 0) throw new Error(`submit failed: ${submit.stderr}`);
  const out: HostLoss[] = [];
  try {
    await committedAfter(c, 0, 240_000);
    for (let i = 0; i < reps; i++) {
      await new Promise((r) => setTimeout(r, settleMs));
      const { name, workers, ids } = await replicaOneHost(c);
      const spares = await sparePids(c);
      const victim = c.net.hosts.find((h) => h.name === name)!;
      const at = Date.now();
      c.net.link(victim, "down");
      c.net.killAll(victim);
      const ev = await recoveredAfter(c, at, workers, 120_000);
      const restored = restoredAfter(ev, at);
      const recovered = Math.max(...restored.map((e) => e.time));
      const commit = ev.find((e) => e.type === "step.committed" && e.subject === JOB && e.time > recovered)!;
      const detected = Math.min(...restored.map((e) => Number(e.data.detectedAt)));
      out.push({
        host: name,
        seconds: (commit.time - at) / 1000,
        detectSeconds: (detected - at) / 1000,
        recoverSeconds: Math.max(...restored.map((e) => Number(e.data.seconds))),
        restoreSeconds: Math.max(...restored.map((e) => Number(e.data.restoreSeconds))),
        source: [...new Set(restored.map((e) => String(e.data.source)))].join(","),
        warm: (await replicaOneHost(c)).pids.filter((p) => p !== null && spares.has(p)).length,
        startSeconds: startSeconds(ev, ids, at),
      });
      const l = out.at(-1)!;
      console.log(
        `loss ${i + 1}: ${name} → next commit ${l.seconds.toFixed(2)} s (detected after ${l.detectSeconds.toFixed(2)} s; ` +
          `recovery ${l.recoverSeconds.toFixed(2)} s, of which the replacements' start ${l.startSeconds.toFixed(2)} s, ${l.warm}/${workers} warm spares)`,
      );
      if (process.env.TROUPE_BENCH_TIMELINE === "1") printTimeline(ev, at, commit.time);
      await revive(c, victim);
    }
  } finally {
    await c.troupe(c.head, "stop", JOB, "--cluster", c.dir);
  }
  return out;
}

/** TROUPE_BENCH_TIMELINE=1: every event from the loss to the commit, ms after the loss (where the seconds go). */
function printTimeline(ev: Ev[], at: number, end: number): void {
  for (const e of ev.filter((x) => x.time >= at && x.time <= end)) {
    const to = e.type.endsWith(".transition") ? ` → ${JSON.stringify(e.data.to)}` : "";
    console.log(`  +${String(e.time - at).padStart(5)} ms ${e.type} ${e.subject}${to}`);
  }
}

/** The lost host back, empty, with a new agent: the next spare. */
async function revive(c: NetCluster, h: Host): Promise<void> {
  c.net.link(h, "up");
  c.startAgent(h);
  await pollUntil(
    async () => ((await c.hostRecords()).some((r) => r.name === h.name && Date.now() - r.lastSeen < 3000) ? true : undefined),
    {
      what: `${h.name}'s agent back`,
      timeoutMs: 60_000,
      everyMs: 500,
    },
  );
}
