// `troupe ps`: every actor of the cluster, dead ones included, with each worker's own lifecycle
// phase (stepping, applying, idle, …) beside the supervisor's state; a worker flagged as a straggler
// (actors/coordinator/stragglers.ts) carries "(straggler 1.9x)" after its phase.
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode } from "../../runtime/codec.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import type { Namespace } from "../../runtime/namespace.ts";
import type { ActorRecord } from "../../runtime/types.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { actorTable, hostTable, phaseName } from "../cluster/format.ts";
import { stragglerKey, type StragglerRecord } from "../../actors/coordinator/job-store.ts";

/**
 * An actor record as `ps --json` prints it: `phase` is the actor's own lifecycle state, null when it writes none;
 * `straggler` the coordinator's flag (busy time ÷ median at the step that flagged it), null when not flagged.
 */
export type PsRow = ActorRecord & { phase: string | null; straggler: { ratio: number; step: number } | null };

/** Workers record their lifecycle under this kind, keyed by their actor id. */
const ACTOR_LIFECYCLE_KIND = "worker";
const REFRESH_MS = 1000;

/**
 * Actor id → phase, from one read of the lifecycles bucket. Keys come from the stream's subject
 * list (one request) as in the registry, not `kv.keys()`, whose push consumer was seen to stall;
 * a cluster that never ran a worker has no bucket, and ps must not create one.
 */
export async function readActorPhases(nc: NatsConnection, ns: Namespace): Promise<Map<string, string>> {
  const prefix = `$KV.${ns.lifecyclesBucket}.${ACTOR_LIFECYCLE_KIND}.`;
  const jsm = await jetstreamManager(nc);
  let subjects: Record<string, number>;
  try {
    subjects = (await jsm.streams.info(`KV_${ns.lifecyclesBucket}`, { subjects_filter: `${prefix}>` })).state.subjects ?? {};
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return new Map();
    throw err;
  }
  const ids = Object.keys(subjects).map((s) => s.slice(prefix.length));
  if (ids.length === 0) return new Map();
  const kv = await new Kvm(nc).open(ns.lifecyclesBucket);
  const entries = await Promise.all(ids.map((id) => kv.get(`${ACTOR_LIFECYCLE_KIND}.${id}`)));
  const phases = new Map<string, string>();
  entries.forEach((e, k) => {
    if (e && e.operation === "PUT") phases.set(ids[k]!, phaseName((decode(e.value) as LifecycleRecord).value));
  });
  return phases;
}

/** Actor id → straggler flag, from the jobs bucket (one stream-info request for the keys, as above). */
export async function readStragglers(nc: NatsConnection, ns: Namespace): Promise<Map<string, StragglerRecord>> {
  const bucket = `troupe_${ns.clusterId}_jobs`;
  const prefix = `$KV.${bucket}.${stragglerKey("")}`;
  const jsm = await jetstreamManager(nc);
  let subjects: Record<string, number>;
  try {
    subjects = (await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` })).state.subjects ?? {};
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return new Map();
    throw err;
  }
  const ids = Object.keys(subjects).map((s) => s.slice(prefix.length));
  if (ids.length === 0) return new Map();
  const kv = await new Kvm(nc).open(bucket);
  const entries = await Promise.all(ids.map((id) => kv.get(stragglerKey(id))));
  const flags = new Map<string, StragglerRecord>();
  entries.forEach((e, k) => {
    if (e && e.operation === "PUT") flags.set(ids[k]!, decode(e.value) as StragglerRecord);
  });
  return flags;
}

export function psRows(records: ActorRecord[], phases: ReadonlyMap<string, string>, stragglers: ReadonlyMap<string, StragglerRecord> = new Map()): PsRow[] {
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

/** Phases and straggler flags in one go (both polled). */
async function readWorkerView(nc: NatsConnection, ns: Namespace): Promise<{ phases: Map<string, string>; stragglers: Map<string, StragglerRecord> }> {
  const [phases, stragglers] = await Promise.all([readActorPhases(nc, ns), readStragglers(nc, ns)]);
  return { phases, stragglers };
}

export function register(program: Command): void {
  const cmd = program
    .command("ps")
    .summary(summaryOf("ps"))
    .description(
      "list every actor (dead ones too): id, coordinates, host, pid, supervisor state, its own phase (training workers: loading, idle, stepping, applying …; (straggler 1.9x) when the coordinator flagged it), restarts, step, heartbeat age",
    )
    .option("-w, --watch", "keep the table updated (redrawn every second and on every record change; Ctrl-C to stop); with --json, one line per change of a record or a phase")
    .option("--hosts", "list the registered hosts (name, slots, tier, running actors, last seen) instead");
  addClusterOptions(cmd).action(async (opts: ClusterOptions & { watch?: boolean; hosts?: boolean }) => {
    await withCluster(opts, async (c) => {
      if (opts.hosts) {
        const hosts = await c.registry.listHosts();
        if (opts.json) console.log(JSON.stringify(hosts));
        else console.log(hosts.length ? hostTable(hosts) : "no hosts");
        return;
      }
      if (!opts.watch) {
        const [records, view] = await Promise.all([c.registry.listActors(), readWorkerView(c.nc, c.ns)]);
        if (opts.json) console.log(JSON.stringify(psRows(records, view.phases, view.stragglers)));
        else console.log(records.length ? actorTable(records, Date.now(), markStragglers(view.phases, view.stragglers)) : "no actors");
        return;
      }
      const current = new Map<string, ActorRecord>();
      let view = { phases: new Map<string, string>(), stragglers: new Map<string, StragglerRecord>() };
      const printed = new Map<string, string>();
      const ctl = new AbortController();
      process.once("SIGINT", () => ctl.abort());
      const show = () => {
        const rows = [...current.values()].sort((a, b) => a.id.localeCompare(b.id));
        if (!opts.json) {
          process.stdout.write("\x1b[2J\x1b[H" + actorTable(rows, Date.now(), markStragglers(view.phases, view.stragglers)) + "\n");
          return;
        }
        for (const row of psRows(rows, view.phases, view.stragglers)) {
          const line = JSON.stringify(row);
          if (printed.get(row.id) !== line) console.log(line);
          printed.set(row.id, line);
        }
      };
      // Phases are polled (one bucket read per refresh); heartbeat ages move even when nothing changes.
      let refreshing = false;
      const timer = setInterval(() => {
        if (refreshing) return;
        refreshing = true;
        readWorkerView(c.nc, c.ns)
          .then((v) => {
            view = v;
            show();
          })
          .catch(() => undefined) // a missed refresh is retried on the next tick
          .finally(() => (refreshing = false));
      }, REFRESH_MS);
      try {
        view = await readWorkerView(c.nc, c.ns);
        await c.registry.watchActors((rec) => {
          current.set(rec.id, rec);
          show();
        }, ctl.signal);
      } finally {
        clearInterval(timer);
      }
    });
  });
}
