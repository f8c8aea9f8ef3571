// Messages between the in-process fuzzy dedup and its worker threads (interfaces only). The actor
// version (actor-fuzzy-dedup.ts) speaks dedup-actor-protocol.ts over NATS instead.
import type { MinHashParams } from "./minhash.ts";
import type { BandEntries } from "./lsh-reduce.ts";

export type FuzzyRequest =
  | { op: "load"; base: number; texts: string[] }
  | { op: "signatures"; params: MinHashParams }
  | { op: "reduce"; entries: BandEntries }
  | { op: "verify"; shingle: number; pairs: Uint32Array; foreign: Record<number, string> };

export type FuzzyReply =
  | { op: "load"; docs: number }
  | { op: "signatures"; base: number; keys: Float64Array }
  | { op: "reduce"; pairs: Uint32Array }
  | { op: "verify"; sims: Float64Array }
  | { op: "error"; message: string }
  /** Sent while computing signatures: documents done so far in this shard. */
  | { op: "progress"; done: number };
