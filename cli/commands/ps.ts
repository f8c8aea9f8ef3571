// `troupe ps`: every actor of the cluster, dead ones included, with each worker's own lifecycle
// phase (stepping, applying, idle, …) beside the supervisor's state; a worker flagged as a straggler
// (actors/coordinator/stragglers.ts) carries "(straggler 1.9x)" after its phase; the coordinator of an elastic job
// that shrank or grew shows its job's phase and replicas ("training, dp 1 (shrunk from 2 at step 3)").
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode } from "../../runtime/codec.ts";
import { readKvPrefix } from "../../runtime/kv-keys.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { MalformedEntry, ReadOptions } from "../../runtime/registry.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { selectActors, runningJobs, type ActorFilter } from "../cluster/actor-filter.ts";
import { addClusterOptions, withCluster, type ClusterOptions, type OpenCluster } from "../cluster/cluster-options.ts";
import { actorTable, hostTable, phaseName } from "../cluster/format.ts";
import { stragglerKey, type StragglerRecord } from "../../actors/coordinator/job-store.ts";
import { describeDp, jobDpOf } from "../../actors/jobs/job-dp.ts";
import { coordinatorIdOf } from "../../actors/jobs/job-ids.ts";

/**
 * An actor record as `ps --json` prints it: `phase` is the actor's own lifecycle state, null when it writes none;
 * `straggler` the coordinator's flag (busy time ÷ median at the step that flagged it), null when not flagged.
 */
export type PsRow = ActorRecord & { phase: string | null; straggler: { ratio: number; step: number } | null };

/** Workers record their lifecycle under this kind, keyed by their actor id. */
const ACTOR_LIFECYCLE_KIND = "worker";
const REFRESH_MS = 1000;

/**
 * Id → lifecycle record of every machine of `kind` ("worker", "job") from one read of the lifecycles bucket. Keys
 * come from the stream's subject list (one request) as in the registry, not `kv.keys()`, whose push consumer was
 * seen to stall; a cluster that never ran one has no bucket, and ps must not create one. Malformed values are
 * skipped and reported.
 */
export async function readLifecycles(
  nc: NatsConnection,
  ns: Namespace,
  kind: string,
  o: ReadOptions = {},
): Promise<Map<string, LifecycleRecord>> {
  const out = new Map<string, LifecycleRecord>();
  for (const [id, e] of await readKvPrefix(nc, ns.lifecyclesBucket, `${kind}.`)) {
    try {
      const rec = decode(e.value) as LifecycleRecord;
      if (rec && typeof rec === "object" && "value" in rec) out.set(id, rec);
      else o.onMalformed?.({ bucket: ns.lifecyclesBucket, key: e.key, reason: "not a lifecycle record" });
    } catch (err) {
      o.onMalformed?.({ bucket: ns.lifecyclesBucket, key: e.key, reason: (err as Error).message });
    }
  }
  return out;
}

/** Actor id → phase (its own lifecycle state), for actors that write one. */
export async function readActorPhases(nc: NatsConnection, ns: Namespace, o: ReadOptions = {}): Promise<Map<string, string>> {
  const recs = await readLifecycles(nc, ns, ACTOR_LIFECYCLE_KIND, o);
  return new Map([...recs].map(([id, r]) => [id, phaseName(r.value)]));
}

/** Actor id → straggler flag, from the jobs bucket (one stream-info request for the keys, as above). */
export async function readStragglers(nc: NatsConnection, ns: Namespace): Promise<Map<string, StragglerRecord>> {
  const flags = new Map<string, StragglerRecord>();
  for (const [id, e] of await readKvPrefix(nc, `troupe_${ns.clusterId}_jobs`, stragglerKey(""))) {
    try {
      flags.set(id, decode(e.value) as StragglerRecord);
    } catch {
      // a malformed flag is no flag
    }
  }
  return flags;
}

export function psRows(
  records: ActorRecord[],
  phases: ReadonlyMap<string, string>,
  stragglers: ReadonlyMap<string, StragglerRecord> = new Map(),
): PsRow[] {
  return records.map((r) => {
    const s = stragglers.get(r.id);
    return { ...r, phase: phases.get(r.id) ?? null, straggler: s ? { ratio: s.ratio, step: s.step } : null };
  });
}

/** Phases with the straggler marker the table shows: "stepping (straggler 1.9x)". */
export function markStragglers(phases: ReadonlyMap<string, string>, stragglers: ReadonlyMap<string, StragglerRecord>): Map<string, string> {
  const out = new Map(phases);
  for (const [id, s] of stragglers) out.set(id, `${phases.get(id) ?? "-"} (straggler ${s.ratio.toFixed(1)}x)`);
  return out;
}

export function register(program: Command): void {
  const cmd = program
    .command("ps")
    .summary(summaryOf("ps"))
    .description(
      "list actors: id, coordinates, host, pid, supervisor state, its own phase (training workers: loading, idle, stepping, applying …; (straggler 1.9x) when the coordinator flagged it), restarts, step, heartbeat age. By default the live actors and every actor of a running job; --all adds the dead actors of jobs that ended",
    )
    .option("-a, --all", "also the dead actors of jobs that ended (kept until `troupe gc`)")
    .option("--job <id>", "only this job's actors (dead ones included)")
    .option("--state <state>", "only actors in this state (alive, dead, restarting, …) or phase (stepping, idle, …)")
    .option("--host <name>", "only actors on this host")
    .option(
      "-w, --watch",
      "keep the table updated (redrawn every second and on every record change; Ctrl-C to stop); with --json, one line per change of a record or a phase; into a pipe, the table again only when a row changes",
    )
    .option("--hosts", "list the registered hosts (name, slots, tier, running actors, last seen) instead");
  addClusterOptions(cmd).action(async (opts: PsOptions) => {
    await withCluster(opts, async (c) => {
      const malformed = reportMalformed();
      if (opts.hosts) {
        const hosts = await c.registry.listHosts(malformed);
        if (opts.json) console.log(JSON.stringify(hosts));
        else console.log(hosts.length ? hostTable(hosts) : "no hosts");
        return;
      }
      if (!opts.watch) {
        const [records, view] = await Promise.all([c.registry.listActors(malformed), readView(c.nc, c.ns, malformed)]);
        const shown = selectActors(records, opts, view.running, view.phases);
        if (opts.json) console.log(JSON.stringify(psRows(shown, view.phases, view.stragglers)));
        else
          console.log(
            shown.length || malformed.seen.length
              ? withMalformed(actorTable(shown, Date.now(), markStragglers(view.phases, view.stragglers)), malformed.seen, shown.length)
              : emptyNote(opts, records.length),
          );
        return;
      }
      await watch(c, opts, malformed);
    });
  });
}

interface PsOptions extends ClusterOptions, ActorFilter {
  watch?: boolean;
  hosts?: boolean;
}

/** Collects malformed entries met while reading, and says so once each on stderr (never on stdout: it may be JSON). */
function reportMalformed(): ReadOptions & { seen: MalformedEntry[] } {
  const seen: MalformedEntry[] = [];
  return {
    seen,
    onMalformed: (m) => {
      if (seen.some((x) => x.bucket === m.bucket && x.key === m.key)) return;
      seen.push(m);
      process.stderr.write(`troupe: skipped a malformed entry in ${m.bucket}: key ${JSON.stringify(m.key)} (${m.reason})\n`);
    },
  };
}

/** The table with a row per malformed actor entry, so the key is seen where the actor would be. */
function withMalformed(table: string, malformed: readonly MalformedEntry[], rows: number): string {
  const bad = malformed.filter((m) => m.bucket.endsWith("_actors")).map((m) => `${m.key}  (malformed record: ${m.reason})`);
  return [rows ? table : "", ...bad].filter((l) => l !== "").join("\n");
}

function emptyNote(f: ActorFilter, total: number): string {
  if (total === 0) return "no actors";
  return f.all ? "no actors match" : "no actors match (troupe ps --all also lists the dead actors of jobs that ended)";
}

/** Phases, straggler flags and running jobs in one go (all polled). */
async function readView(
  nc: NatsConnection,
  ns: Namespace,
  o: ReadOptions,
): Promise<{ phases: Map<string, string>; stragglers: Map<string, StragglerRecord>; running: Set<string> }> {
  const [phases, stragglers, jobs] = await Promise.all([
    readActorPhases(nc, ns, o),
    readStragglers(nc, ns),
    readLifecycles(nc, ns, "job", o),
  ]);
  // an elastic job that shrank or grew: its coordinator's row says the replicas now and the last change
  for (const [id, rec] of jobs) {
    const dp = jobDpOf(rec);
    if (dp.resizes.length) phases.set(coordinatorIdOf(id), `${phaseName(rec.value)}, dp ${describeDp(dp)}`);
  }
  return { phases, stragglers, running: runningJobs(jobs) };
}

async function watch(c: OpenCluster, opts: PsOptions, malformed: ReadOptions): Promise<void> {
  const current = new Map<string, ActorRecord>();
  let view = { phases: new Map<string, string>(), stragglers: new Map<string, StragglerRecord>(), running: new Set<string>() };
  const printed = new Map<string, string>();
  let lastPlain = "";
  const ctl = new AbortController();
  process.once("SIGINT", () => ctl.abort());
  const tty = process.stdout.isTTY === true;
  const show = () => {
    const rows = selectActors(
      [...current.values()].sort((a, b) => a.id.localeCompare(b.id)),
      opts,
      view.running,
      view.phases,
    );
    if (opts.json) {
      for (const row of psRows(rows, view.phases, view.stragglers)) {
        const line = JSON.stringify(row);
        if (printed.get(row.id) !== line) console.log(line);
        printed.set(row.id, line);
      }
      return;
    }
    const phases = markStragglers(view.phases, view.stragglers);
    if (tty) {
      process.stdout.write("\x1b[2J\x1b[H" + actorTable(rows, Date.now(), phases) + "\n");
      return;
    }
    // into a pipe: no screen control codes, and a new table only when a row changed (heartbeat ages aside)
    const plain = actorTable(
      rows.map((r) => ({ ...r, lastHeartbeat: null })),
      0,
      phases,
    );
    if (plain === lastPlain) return;
    lastPlain = plain;
    console.log(`${new Date().toISOString()}\n${actorTable(rows, Date.now(), phases)}\n`);
  };
  // Phases are polled (one bucket read per refresh); heartbeat ages move even when nothing changes.
  let refreshing = false;
  const timer = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    readView(c.nc, c.ns, malformed)
      .then((v) => {
        view = v;
        show();
      })
      .catch(() => undefined) // a missed refresh is retried on the next tick
      .finally(() => (refreshing = false));
  }, REFRESH_MS);
  try {
    view = await readView(c.nc, c.ns, malformed);
    await c.registry.watchActors(
      (rec) => {
        current.set(rec.id, rec);
        show();
      },
      ctl.signal,
      malformed,
    );
  } finally {
    clearInterval(timer);
  }
}
