// How many copies JetStream keeps of each stream and KV bucket: one per nats-server, up to three (R3 survives the
// loss of one server; a lone server keeps R1). The servers are counted from what the connection knows: the client
// URLs it was given (a cluster's, joined with commas) and those the server advertises for its cluster. A stream
// created while some servers are down takes as many copies as there are servers to hold them.
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { delay } from "./async.ts";
import { ClusterUnreachableError } from "./errors.ts";

const MAX_REPLICAS = 3;
const givenServers = new WeakMap<NatsConnection, number>();

/** Records how many servers `nc` was given (connection.ts does, for every connection it makes). */
export function rememberServers(nc: NatsConnection, servers: number): void {
  givenServers.set(nc, servers);
}

/** Replicas for a new stream or bucket on `nc`'s cluster: min(3, servers). */
function jetStreamReplicas(nc: NatsConnection): number {
  const advertised = nc.info?.connect_urls?.length ?? 0;
  return Math.max(1, Math.min(MAX_REPLICAS, Math.max(givenServers.get(nc) ?? 1, advertised)));
}

/** JetStream's answer when fewer servers are up than the replicas asked for. */
function tooFewPeers(err: unknown): boolean {
  return err instanceof Error && /no suitable peers|insufficient resources/i.test(err.message);
}

/**
 * Runs `create` with the cluster's replica count, and again with fewer while JetStream says too few servers are
 * up to place that many (a server lost for good): the stream exists, with fewer copies, rather than not at all.
 */
export async function withReplicas<T>(nc: NatsConnection, create: (replicas: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + ELECTION_WAIT_MS;
  for (let r = jetStreamReplicas(nc); ;) {
    try {
      return await create(r);
    } catch (err) {
      if (r > 1 && tooFewPeers(err)) r--;
      else if (!electing(err) || Date.now() > deadline) throw err;
      else await delay(250);
    }
  }
}

/** Runs `fn` again while JetStream elects new leaders (a server of the cluster lost), for up to 30 s. */
export async function duringElection<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ELECTION_WAIT_MS;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!electing(err) || Date.now() > deadline) throw err;
      await delay(250);
    }
  }
}

/** How long a client waits out JetStream electing new leaders after a server of the cluster is lost. */
const ELECTION_WAIT_MS = 30_000;

/**
 * JetStream without a leader for a moment (a server of the cluster lost, or a stream just made whose interest has not
 * reached every server): requests time out or find no responders, which the client may report as a
 * `JetStreamNotEnabled` whose cause is the `NoResponders`, so the causes are asked too.
 */
function electing(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++)
    if (/timeout|timed out|temporarily unavailable|no responders|noresponders|leader/i.test(`${e.name} ${e.message}`)) return true;
  return false;
}

/** Opens KV bucket `name`, creating it with the cluster's replica count when it does not exist. */
export function createKv(nc: NatsConnection, name: string, opts: Partial<KvOptions> = {}): Promise<KV> {
  return withReplicas(nc, (replicas) => new Kvm(nc).create(name, { ...opts, replicas }));
}

/**
 * Waits until JetStream can place a stream on `replicas` servers (a new cluster's meta group has formed and knows
 * them all), trying a probe stream and deleting it; before that, streams would be made with fewer copies.
 */
export async function waitForJetStream(nc: NatsConnection, name: string, replicas: number, timeoutMs: number): Promise<void> {
  const jsm = await jetstreamManager(nc, { checkAPI: false }); // no JetStream yet is what this waits for
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await jsm.streams.add({ name, subjects: [`${name}.probe`], num_replicas: replicas });
      await jsm.streams.delete(name);
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new ClusterUnreachableError(`JetStream could not place a stream on ${replicas} servers in time: ${(err as Error).message}`, {
          cause: err,
        });
      await delay(250);
    }
  }
}
