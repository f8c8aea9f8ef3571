// The keys of a KV bucket, from its stream's subject list (one request/reply) rather than `kv.keys()`, whose push
// consumer was seen to stall for seconds when a key was written during the listing.
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";

/** Keys of `bucket` under `prefix` (e.g. "job." or ""), sorted; none when the bucket does not exist. */
export async function bucketKeys(jsm: JetStreamManager, bucket: string, prefix = ""): Promise<string[]> {
  const subjectPrefix = `$KV.${bucket}.`;
  try {
    const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${subjectPrefix}${prefix}>` });
    return Object.keys(info.state.subjects ?? {})
      .map((s) => s.slice(subjectPrefix.length))
      .sort();
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
    throw err;
  }
}
