// The JetStream KV registry of a cluster: one key per actor (dead ones stay) and one per host.
// Every value read is checked: anyone holding the cluster's credentials can write a bucket, and one garbage value
// must not take a reader down. A malformed entry is skipped and reported (onMalformed) with its key.
import { issueText } from "./zod-issue.ts";
import { type KV, type KvEntry } from "@nats-io/kv";
import { createKv, duringElection } from "./jetstream-replicas.ts";
import { readKvPrefix } from "./kv-keys.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { decode, encode } from "./codec.ts";
import type { Namespace } from "./namespace.ts";
import { retrying } from "./retry.ts";
import type { ActorRecord, HostRecord } from "./types.ts";

/** A bucket entry that is not a record of its kind: its key and why. */
export interface MalformedEntry {
  bucket: string;
  key: string;
  reason: string;
}

export interface ReadOptions {
  /** Hears about each malformed entry met (skipped either way). */
  onMalformed?: (m: MalformedEntry) => void;
}

const nullableInt = z.number().int().nullable();
const actorRecordSchema = z.looseObject({
  id: z.string(),
  supervisor: z.string(),
  coords: z.record(z.string(), z.number()),
  host: z.string().nullable(),
  pid: nullableInt,
  state: z.enum(["pending", "starting", "alive", "suspect", "failed", "restarting", "dead"]),
  restarts: z.number().int(),
  step: z.number(),
  epoch: z.number(),
  lastHeartbeat: z.number().nullable(),
  deathCause: z.string().nullable(),
  seq: z.number().int(),
  updatedAt: z.number(),
});
const hostRecordSchema = z.looseObject({
  name: z.string(),
  slots: z.number().int(),
  tier: z.string(),
  pid: z.number().int(),
  startedAt: z.number(),
  lastSeen: z.number(),
  running: z.array(z.string()),
});

/** The value of a KV entry as a record of `schema`, or why it is not one. */
function parseEntry<T>(bucket: string, e: KvEntry, schema: z.ZodType): { ok: true; value: T } | { ok: false; malformed: MalformedEntry } {
  try {
    const r = schema.safeParse(decode(e.value));
    if (r.success) return { ok: true, value: r.data as T };
    return { ok: false, malformed: { bucket, key: e.key, reason: issueText(r.error, { quote: "", root: "value" }) } };
  } catch (err) {
    return { ok: false, malformed: { bucket, key: e.key, reason: (err as Error).message } };
  }
}

export class Registry {
  private constructor(
    readonly actors: KV,
    readonly hosts: KV,
    private readonly nc: NatsConnection,
    private readonly ns: Namespace,
  ) {}

  static async open(nc: NatsConnection, ns: Namespace): Promise<Registry> {
    const actors = await createKv(nc, ns.actorsBucket, { history: 64 });
    const hosts = await createKv(nc, ns.hostsBucket, { history: 1 });
    return new Registry(actors, hosts, nc, ns);
  }

  async putActor(rec: ActorRecord): Promise<void> {
    await retrying(() => this.actors.put(rec.id, encode(rec)));
  }

  /** The actor's record; null when there is none or it is malformed (`readActor` tells which). */
  async getActor(id: string, o: ReadOptions = {}): Promise<ActorRecord | null> {
    const r = await this.readActor(id);
    if (r && "malformed" in r) {
      o.onMalformed?.(r.malformed);
      return null;
    }
    return r?.record ?? null;
  }

  /** The actor's record, or the entry stored under its key when that is not a record; null when there is none. */
  async readActor(id: string): Promise<{ record: ActorRecord } | { malformed: MalformedEntry } | null> {
    const e = await duringElection(() => this.actors.get(id));
    if (!e || e.operation !== "PUT") return null;
    const r = parseEntry<ActorRecord>(this.ns.actorsBucket, e, actorRecordSchema);
    return r.ok ? { record: r.value } : { malformed: r.malformed };
  }

  async listActors(o: ReadOptions = {}): Promise<ActorRecord[]> {
    return this.listValues<ActorRecord>(this.ns.actorsBucket, actorRecordSchema, o);
  }

  /** Calls `onChange` with every actor record as it changes, starting with the current ones. */
  async watchActors(onChange: (rec: ActorRecord) => void, signal?: AbortSignal, o: ReadOptions = {}): Promise<void> {
    const w = await this.actors.watch({ key: ">" });
    signal?.addEventListener("abort", () => w.stop(), { once: true });
    for await (const e of w) {
      if (e.operation !== "PUT") continue;
      const r = parseEntry<ActorRecord>(this.ns.actorsBucket, e, actorRecordSchema);
      if (r.ok) onChange(r.value);
      else o.onMalformed?.(r.malformed);
    }
  }

  /** All stored versions of one actor record, oldest first (malformed versions skipped). */
  async actorHistory(id: string, o: ReadOptions = {}): Promise<ActorRecord[]> {
    const out: ActorRecord[] = [];
    const it = await this.actors.history({ key: id });
    for await (const e of it) {
      if (e.operation !== "PUT") continue;
      const r = parseEntry<ActorRecord>(this.ns.actorsBucket, e, actorRecordSchema);
      if (r.ok) out.push(r.value);
      else o.onMalformed?.(r.malformed);
    }
    return out;
  }

  /** Removes an actor's record and its history (`troupe gc`: dead actors of jobs that ended). */
  async purgeActor(id: string): Promise<void> {
    await retrying(() => this.actors.purge(id));
  }

  async putHost(rec: HostRecord): Promise<void> {
    await retrying(() => this.hosts.put(rec.name, encode(rec)));
  }

  async getHost(name: string, o: ReadOptions = {}): Promise<HostRecord | null> {
    const e = await duringElection(() => this.hosts.get(name));
    if (!e || e.operation !== "PUT") return null;
    const r = parseEntry<HostRecord>(this.ns.hostsBucket, e, hostRecordSchema);
    if (r.ok) return r.value;
    o.onMalformed?.(r.malformed);
    return null;
  }

  async listHosts(o: ReadOptions = {}): Promise<HostRecord[]> {
    return this.listValues<HostRecord>(this.ns.hostsBucket, hostRecordSchema, o);
  }

  /** Every value of the bucket (runtime/kv-keys.ts: keys in one request, an election waited out). */
  private async listValues<T>(bucket: string, schema: z.ZodType, o: ReadOptions): Promise<T[]> {
    const out: T[] = [];
    for (const e of (await readKvPrefix(this.nc, bucket)).values()) {
      const r = parseEntry<T>(bucket, e, schema);
      if (r.ok) out.push(r.value);
      else o.onMalformed?.(r.malformed);
    }
    return out;
  }
}
