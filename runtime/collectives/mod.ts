// Public face of the collectives data plane.
export type { Collectives, CollectivesWorld, PeerAddress, ReduceOp, Rendezvous } from "./types.ts";
export {
  CollectiveAbortedError,
  CollectiveAuthError,
  CollectiveError,
  CollectiveKeyError,
  CollectiveTimeoutError,
  PeerLostError,
  RendezvousError,
} from "./errors.ts";
export { newCollectiveKey, readCollectiveKeyFile, writeCollectiveKeyFile } from "./collective-key.ts";
export { createCpuCollectives, type CpuCollectivesOptions } from "./tcp-collectives.ts";
export { chunkBounds } from "./reduce.ts";
export { DEFAULT_RENDEZVOUS_BUCKET, KvRendezvous } from "./kv-rendezvous.ts";
export { assignBuckets, GradientBuckets, type GradientBucketOptions } from "./grad-buckets.ts";
