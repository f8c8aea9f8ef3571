// Requests between the fuzzy-dedup coordinator and its actors (NATS request/reply, validated with zod).
// They carry file paths, never documents. Tasks are idempotent (same inputs → same output file), so a
// task whose actor died is simply run again elsewhere; no epoch fencing is needed.
import { z } from "zod";
import { checkName, type Namespace } from "../../runtime/namespace.ts";

export type DedupRole = "signature" | "reducer";

export function dedupSubject(ns: Namespace, actorId: string, verb: DedupVerb): string {
  return `troupe.${ns.clusterId}.dedup.${checkName("actor id", actorId)}.${verb}`;
}

const shardRef = z.object({ file: z.string().min(1), base: z.number().int().min(0) });
export type ShardRef = z.infer<typeof shardRef>;

export const readyRequestSchema = z.object({});
export interface ReadyReply {
  pid: number;
  role: DedupRole;
}

/** Signature actor: MinHash band keys of one shard, written as one band-entry file per reducer (key mod R). */
export const signaturesRequestSchema = z.object({
  shard: shardRef,
  params: z.object({
    shingle: z.number().int().positive(),
    bands: z.number().int().positive(),
    rows: z.number().int().positive(),
    seed: z.number().int().min(0),
  }),
  reducers: z.number().int().positive(),
  /** Output files are `<outPrefix>.r<reducer>.band`. */
  outPrefix: z.string().min(1),
});
export type SignaturesRequest = z.infer<typeof signaturesRequestSchema>;
export interface SignaturesReply {
  files: string[];
  docs: number;
}

/** Reducer actor: candidate pairs of every band entry routed to one reducer partition. */
export const reduceRequestSchema = z.object({ files: z.array(z.string().min(1)), out: z.string().min(1) });
export type ReduceRequest = z.infer<typeof reduceRequestSchema>;
export interface ReduceReply {
  out: string;
  pairs: number;
}

/** Signature actor: exact Jaccard of candidate pairs, reading the shards that hold their documents. */
export const verifyRequestSchema = z.object({
  pairsFile: z.string().min(1),
  shards: z.array(shardRef).min(1),
  shingle: z.number().int().positive(),
  out: z.string().min(1),
});
export type VerifyRequest = z.infer<typeof verifyRequestSchema>;
export interface VerifyReply {
  out: string;
  pairs: number;
}

/** Every verb with what the dedup coordinator sends and what an actor answers. */
export interface DedupProtocol {
  ready: { req: z.infer<typeof readyRequestSchema>; reply: ReadyReply };
  signatures: { req: SignaturesRequest; reply: SignaturesReply };
  reduce: { req: ReduceRequest; reply: ReduceReply };
  verify: { req: VerifyRequest; reply: VerifyReply };
}

export type DedupVerb = keyof DedupProtocol;
