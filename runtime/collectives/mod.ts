// Public face of the collectives data plane.
export type { Collectives, CollectivesWorld, PeerAddress, ReduceOp, Rendezvous } from "./types.ts";
export { CollectiveAbortedError, CollectiveError, CollectiveTimeoutError, PeerLostError, RendezvousError } from "./errors.ts";
export { createCpuCollectives, type CpuCollectivesOptions } from "./tcp-collectives.ts";
export { chunkBounds } from "./reduce.ts";
export { DEFAULT_RENDEZVOUS_BUCKET, KvRendezvous } from "./kv-rendezvous.ts";
export { assignBuckets, GradientBuckets, type GradientBucketOptions } from "./grad-buckets.ts";
