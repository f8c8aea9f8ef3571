// Rendezvous through a NATS JetStream KV bucket: each rank puts "host:port" under <session>.<rank>.
// Only addresses go through NATS; tensors travel over the sockets.
import type { NatsConnection } from "@nats-io/transport-node";
import { type KV } from "@nats-io/kv";
import { createKv, duringElection } from "../jetstream-replicas.ts";
import { RendezvousError } from "./errors.ts";
import type { PeerAddress, Rendezvous } from "./types.ts";

export const DEFAULT_RENDEZVOUS_BUCKET = "troupe-rendezvous";

/** KV keys allow [-/_=.a-zA-Z0-9]; sessions are job ids and epochs, so refuse anything else early. */
function checkSession(session: string): void {
  if (!/^[-_=a-zA-Z0-9]+$/.test(session)) {
    throw new RendezvousError(`session '${session}' may only contain letters, digits, '-', '_' and '='`);
  }
}

export class KvRendezvous implements Rendezvous {
  private constructor(
    private readonly kv: KV,
    private readonly session: string,
  ) {}

  /** Opens (creating if needed) the bucket. Entries expire after a day so old sessions do not pile up. */
  static async open(nc: NatsConnection, session: string, bucket = DEFAULT_RENDEZVOUS_BUCKET): Promise<KvRendezvous> {
    checkSession(session);
    try {
      const kv = await createKv(nc, bucket, { history: 1, ttl: 24 * 3600 * 1000 });
      return new KvRendezvous(kv, session);
    } catch (cause) {
      throw new RendezvousError(`cannot open rendezvous bucket '${bucket}': ${(cause as Error).message}`, { cause });
    }
  }

  private key(rank: number): string {
    return `${this.session}.${rank}`;
  }

  /** A bucket just made on a NATS cluster may not answer for a moment (its stream's leader is being elected). */
  async publish(rank: number, address: PeerAddress): Promise<void> {
    await duringElection(() => this.kv.put(this.key(rank), `${address.host}:${address.port}`));
  }

  async lookup(rank: number, timeoutMs: number): Promise<PeerAddress> {
    const deadline = Date.now() + timeoutMs;
    let delay = 10;
    for (;;) {
      const entry = await duringElection(() => this.kv.get(this.key(rank)));
      if (entry && entry.operation === "PUT" && entry.length > 0) {
        const text = entry.string();
        const colon = text.lastIndexOf(":");
        return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
      }
      if (Date.now() >= deadline) {
        throw new RendezvousError(`rank ${rank} of session '${this.session}' did not publish its address within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
      delay = Math.min(delay * 2, 200);
    }
  }
}
