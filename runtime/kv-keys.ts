// A bucket's keys from one stream-info request (its subject list), not `kv.keys()`, whose push consumer was seen to
// stall for seconds when a key was written during the listing; and every entry under a key prefix, as `troupe ps`
// and the registry read them. Each request waits out a JetStream election (a nats-server of the cluster just lost),
// so a read right after a loss answers instead of timing out.
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { duringElection } from "./jetstream-replicas.ts";

/** The keys of `bucket` that start with `prefix`, sorted; none when the bucket does not exist (it is not created). */
export async function bucketKeys(jsm: JetStreamManager, bucket: string, prefix = ""): Promise<string[]> {
  const subjectPrefix = `$KV.${bucket}.`;
  try {
    const info = await duringElection(() => jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${subjectPrefix}${prefix}>` }));
    return Object.keys(info.state.subjects ?? {})
      .map((s) => s.slice(subjectPrefix.length))
      .sort();
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
    throw err;
  }
}

/** Key (without `prefix`) → entry, for every key of `bucket` under `prefix` that holds a value (deleted ones left out). */
export async function readKvPrefix(nc: NatsConnection, bucket: string, prefix = ""): Promise<Map<string, KvEntry>> {
  const keys = await bucketKeys(await jetstreamManager(nc), bucket, prefix);
  const out = new Map<string, KvEntry>();
  if (keys.length === 0) return out;
  const kv = await new Kvm(nc).open(bucket);
  const entries = await Promise.all(keys.map((k) => duringElection(() => kv.get(k))));
  entries.forEach((e, i) => {
    if (e && e.operation === "PUT") out.set(keys[i]!.slice(prefix.length), e);
  });
  return out;
}
