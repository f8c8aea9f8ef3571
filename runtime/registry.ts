// The JetStream KV registry of a cluster: one key per actor (dead ones stay) and one per host.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { decode, encode } from "./codec.ts";
import type { Namespace } from "./namespace.ts";
import { retrying } from "./retry.ts";
import type { ActorRecord, HostRecord } from "./types.ts";

export class Registry {
  private constructor(
    readonly actors: KV,
    readonly hosts: KV,
    private readonly jsm: JetStreamManager,
    private readonly ns: Namespace,
  ) {}

  static async open(nc: NatsConnection, ns: Namespace): Promise<Registry> {
    const kvm = new Kvm(nc);
    const actors = await kvm.create(ns.actorsBucket, { history: 64 });
    const hosts = await kvm.create(ns.hostsBucket, { history: 1 });
    return new Registry(actors, hosts, await jetstreamManager(nc), ns);
  }

  async putActor(rec: ActorRecord): Promise<void> {
    await retrying(() => this.actors.put(rec.id, encode(rec)));
  }

  async getActor(id: string): Promise<ActorRecord | null> {
    const e = await this.actors.get(id);
    return e && e.operation === "PUT" ? (decode(e.value) as ActorRecord) : null;
  }

  async listActors(): Promise<ActorRecord[]> {
    return this.listValues<ActorRecord>(this.actors, this.ns.actorsBucket);
  }

  /** Calls `onChange` with every actor record as it changes, starting with the current ones. */
  async watchActors(onChange: (rec: ActorRecord) => void, signal?: AbortSignal): Promise<void> {
    const w = await this.actors.watch({ key: ">" });
    signal?.addEventListener("abort", () => w.stop(), { once: true });
    for await (const e of w) {
      if (e.operation === "PUT") onChange(decode(e.value) as ActorRecord);
    }
  }

  /** All stored versions of one actor record, oldest first. */
  async actorHistory(id: string): Promise<ActorRecord[]> {
    const out: ActorRecord[] = [];
    const it = await this.actors.history({ key: id });
    for await (const e of it) if (e.operation === "PUT") out.push(decode(e.value) as ActorRecord);
    return out;
  }

  async putHost(rec: HostRecord): Promise<void> {
    await retrying(() => this.hosts.put(rec.name, encode(rec)));
  }

  async getHost(name: string): Promise<HostRecord | null> {
    const e = await this.hosts.get(name);
    return e && e.operation === "PUT" ? (decode(e.value) as HostRecord) : null;
  }

  async listHosts(): Promise<HostRecord[]> {
    return this.listValues<HostRecord>(this.hosts, this.ns.hostsBucket);
  }

  /**
   * Keys from the stream's subject list (one request/reply) rather than `kv.keys()`, whose push
   * consumer was seen to stall for seconds when a key was written during the listing.
   */
  private async listValues<T>(kv: KV, bucket: string): Promise<T[]> {
    const prefix = `$KV.${bucket}.`;
    const info = await this.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
    const keys = Object.keys(info.state.subjects ?? {})
      .map((s) => s.slice(prefix.length))
      .sort();
    const out: T[] = [];
    for (const k of keys) {
      const e = await kv.get(k);
      if (e && e.operation === "PUT") out.push(decode(e.value) as T);
    }
    return out;
  }
}
