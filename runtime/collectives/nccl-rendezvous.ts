// The NCCL unique id of each communicator, exchanged through the same NATS KV bucket as the TCP addresses
// (kv-rendezvous.ts): the group's first member puts the 128-byte id under <session>.nccl.<group>, the others
// wait for it. Only the id goes through NATS; tensors travel over NCCL.
import type { NatsConnection } from "@nats-io/transport-node";
import { type KV } from "@nats-io/kv";
import { createKv } from "../jetstream-replicas.ts";
import { RendezvousError } from "./errors.ts";
import { DEFAULT_RENDEZVOUS_BUCKET } from "./kv-rendezvous.ts";

export interface NcclIdExchange {
  publish(group: readonly number[], id: Uint8Array): Promise<void>;
  /** Waits until the group's id is published, or rejects with RendezvousError after `timeoutMs`. */
  lookup(group: readonly number[], timeoutMs: number): Promise<Uint8Array>;
}

export class KvNcclIdExchange implements NcclIdExchange {
  private constructor(
    private readonly kv: KV,
    private readonly session: string,
  ) {}

  static async open(nc: NatsConnection, session: string, bucket = DEFAULT_RENDEZVOUS_BUCKET): Promise<KvNcclIdExchange> {
    if (!/^[-_=a-zA-Z0-9]+$/.test(session))
      throw new RendezvousError(`session '${session}' may only contain letters, digits, '-', '_' and '='`);
    try {
      const kv = await createKv(nc, bucket, { history: 1, ttl: 24 * 3600 * 1000 });
      return new KvNcclIdExchange(kv, session);
    } catch (cause) {
      throw new RendezvousError(`cannot open rendezvous bucket '${bucket}': ${(cause as Error).message}`, { cause });
    }
  }

  private key(group: readonly number[]): string {
    return `${this.session}.nccl.${group.join("-")}`;
  }

  async publish(group: readonly number[], id: Uint8Array): Promise<void> {
    if (id.length !== 128) throw new RendezvousError(`an NCCL unique id has 128 bytes, got ${id.length}`);
    await this.kv.put(this.key(group), Buffer.from(id).toString("base64"));
  }

  async lookup(group: readonly number[], timeoutMs: number): Promise<Uint8Array> {
    const watch = await this.kv.watch({ key: this.key(group) }); // the current value first, then updates
    const timer = setTimeout(() => watch.stop(), timeoutMs);
    try {
      for await (const entry of watch) {
        if (entry.operation === "PUT" && entry.length > 0) return new Uint8Array(Buffer.from(entry.string(), "base64"));
      }
    } finally {
      clearTimeout(timer);
      watch.stop();
    }
    throw new RendezvousError(
      `the NCCL id of group [${group.join(",")}] in session '${this.session}' was not published within ${timeoutMs} ms`,
    );
  }
}
