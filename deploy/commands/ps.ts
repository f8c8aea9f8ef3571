// `troupe ps`: every actor of the cluster, dead ones included, with each worker's own lifecycle
// phase (stepping, applying, idle, …) beside the supervisor's state.
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

/** An actor record as `ps --json` prints it: `phase` is the actor's own lifecycle state, null when it writes none. */
export type PsRow = ActorRecord & { phase: string | null };

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

export function psRows(records: ActorRecord[], phases: ReadonlyMap<string, string>): PsRow[] {
  return records.map((r) => ({ ...r, phase: phases.get(r.id) ?? null }));
}

export function register(program: Command): void {
  const cmd = program
    .command("ps")
    .description(
      "list every actor (dead ones too): id, coordinates, host, pid, supervisor state, its own phase (training workers: loading, idle, stepping, applying …), restarts, step, heartbeat age",
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
        const [records, phases] = await Promise.all([c.registry.listActors(), readActorPhases(c.nc, c.ns)]);
        if (opts.json) console.log(JSON.stringify(psRows(records, phases)));
        else console.log(records.length ? actorTable(records, Date.now(), phases) : "no actors");
        return;
      }
      const current = new Map<string, ActorRecord>();
      let phases = new Map<string, string>();
      const printed = new Map<string, string>();
      const ctl = new AbortController();
      process.once("SIGINT", () => ctl.abort());
      const show = () => {
        const rows = [...current.values()].sort((a, b) => a.id.localeCompare(b.id));
        if (!opts.json) {
          process.stdout.write("\x1b[2J\x1b[H" + actorTable(rows, Date.now(), phases) + "\n");
          return;
        }
        for (const row of psRows(rows, phases)) {
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
        readActorPhases(c.nc, c.ns)
          .then((p) => {
            phases = p;
            show();
          })
          .catch(() => undefined) // a missed refresh is retried on the next tick
          .finally(() => (refreshing = false));
      }, REFRESH_MS);
      try {
        phases = await readActorPhases(c.nc, c.ns);
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
