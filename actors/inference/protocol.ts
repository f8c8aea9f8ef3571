// Requests from the inference driver (the CLI process) to the workers of an inference job, as zod schemas.
// Only token ids and sampling settings go in, only scalars and token ids come out: activations, partial sums
// and the sampled token travel between the workers over the collectives. Every worker of a replica gets each
// of its requests, in the same order, and runs its part; the answering rank (last stage, TP rank 0) replies
// with the result, the others with null.
import { z } from "zod";
import { checkName, type Namespace } from "../../runtime/namespace.ts";

const epoch = z.number().int().min(0);
const token = z.number().int().min(0);

/** Log-probabilities of `targets` after `inputs`: `batch` rows of seqLen tokens each. */
export const scoreRequestSchema = z.object({
  epoch,
  /** Names the request's activations between stages, so stages pair them up whatever order they run in. */
  id: z.number().int().min(0),
  batch: z.number().int().min(1),
  inputs: z.array(token),
  targets: z.array(token),
});
export type ScoreRequest = z.infer<typeof scoreRequestSchema>;

export interface ScoreReply {
  /** log P(target) per position, [batch·seqLen] */
  logProbs: number[];
  /** 1 where the target is the most likely token of its position */
  isArgmax: number[];
}

/**
 * Generates a continuation of `prompt`: every worker runs the same decoding loop (ml/generate generateWith),
 * the last stage samples, the token is broadcast to every rank over the collectives, and the answering rank
 * publishes each token on `streamSubject` as it is chosen (streaming) and replies with all of them at the end.
 */
export const generateRequestSchema = z.object({
  epoch,
  prompt: z.array(token).min(1),
  maxNewTokens: z.number().int().min(0),
  sampling: z.object({
    temperature: z.number().min(0),
    topK: z.number().int().min(0).optional(),
    topP: z.number().gt(0).max(1).optional(),
  }),
  seed: z.number().int(),
  stopTokens: z.array(token),
  /** restart the cache from the window start for every token (the no-cache check) */
  recompute: z.boolean(),
  streamSubject: z.string().min(1),
});
export type GenerateRequest = z.infer<typeof generateRequestSchema>;

export interface GenerateReply {
  tokens: number[];
  stoppedBy: "length" | "stop-token";
}

/** One streamed token: its index among the new tokens. */
export interface StreamedToken {
  index: number;
  token: number;
}

const inferStatusRequestSchema = z.object({ epoch });

export interface InferWorkerStatus {
  state: string;
  epoch: number;
  requests: number;
}

type Exchange<Req, Reply> = { req: Omit<Req, "epoch">; reply: Reply };

/** Every verb with what the driver sends (the group adds the epoch) and what a worker answers (null: not the answering rank). */
export interface InferProtocol {
  score: Exchange<ScoreRequest, ScoreReply | null>;
  generate: Exchange<GenerateRequest, GenerateReply | null>;
  status: Exchange<z.infer<typeof inferStatusRequestSchema>, InferWorkerStatus>;
  drain: Exchange<z.infer<typeof inferStatusRequestSchema>, { state: string }>;
}

export type InferVerb = keyof InferProtocol;

/** troupe.<cluster>.infer.<actor>.<verb> */
export function inferSubject(ns: Namespace, actorId: string, verb: InferVerb): string {
  return `troupe.${ns.clusterId}.infer.${checkName("actor id", actorId)}.${verb}`;
}

/** troupe.<cluster>.infer.<job>.tokens.<request>: where a generation's tokens are streamed. */
export function tokenStreamSubject(ns: Namespace, jobId: string, request: number): string {
  return `troupe.${ns.clusterId}.infer.${checkName("job id", jobId)}.tokens.${request}`;
}
