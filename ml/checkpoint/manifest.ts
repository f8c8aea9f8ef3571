// The checkpoint manifest (manifest.json in each step folder): what a checkpoint holds and how to check it.
// Tensor entries record the GLOBAL shape and this shard's offset in it, so a checkpoint saved with one
// (tp, pp) layout can be loaded into another. A single rank saves offset zeros and shape = globalShape.
import { z } from "zod";

export const MANIFEST_FORMAT = "troupe-checkpoint";
export const MANIFEST_VERSION = 1;
export const MANIFEST_FILE = "manifest.json";

const tensorRecord = z.object({
  name: z.string().min(1),
  /** "param" for model weights, "optimizer" for AdamW moments. */
  kind: z.enum(["param", "optimizer"]),
  file: z.string().min(1),
  dtype: z.literal("F32"),
  globalShape: z.array(z.number().int().nonnegative()),
  shape: z.array(z.number().int().nonnegative()),
  offset: z.array(z.number().int().nonnegative()),
  /**
   * Row (dimension 0) in the stored tensor where this piece starts; absent = 0. A tensor-parallel shard can hold
   * several pieces stacked along dimension 0 (qkv: q, k and v of one head group), each recorded separately.
   */
  localOffset: z.number().int().nonnegative().optional(),
  /**
   * The stored tensor's name in the file when it is not `name`: a ZeRO-1 shard file holds several pieces of one
   * tensor (the boxes a flat range of it makes), each stored under its own name.
   */
  entry: z.string().min(1).optional(),
});

const fileRecord = z.object({
  file: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  createdAt: z.string(),
  step: z.number().int().nonnegative(),
  tokensSeen: z.number().int().nonnegative(),
  samplesSeen: z.number().int().nonnegative(),
  /** Training seed (model init, sampling order). */
  seed: z.number().int().nonnegative(),
  /** Where the data stream stands: sampling is a pure function of (seed, sample index). */
  data: z.object({
    tokenizerFile: z.string(),
    tokenizerSha256: z.string().optional(),
    seed: z.number().int().nonnegative(),
    nextSample: z.number().int().nonnegative(),
  }),
  optimizer: z.object({ stepCount: z.number().int().nonnegative() }),
  layout: z.object({
    dp: z.number().int().positive(),
    pp: z.number().int().positive(),
    tp: z.number().int().positive(),
    /** Transformer layers per pipeline stage (sharded saves record it; absent for single-rank saves). */
    layersPerStage: z.array(z.number().int().positive()).optional(),
  }),
  config: z.unknown(),
  /** Free-form figures at save time (last loss, validation loss). */
  metrics: z.record(z.string(), z.number()).default({}),
  files: z.array(fileRecord).min(1),
  tensors: z.array(tensorRecord).min(1),
});

export type CheckpointManifest = z.output<typeof manifestSchema>;
export type TensorRecord = z.output<typeof tensorRecord>;
export type FileRecord = z.output<typeof fileRecord>;

/** Everything in a manifest except the layout, files and tensors. */
export interface CheckpointInfo {
  step: number;
  tokensSeen: number;
  samplesSeen: number;
  seed: number;
  data: CheckpointManifest["data"];
  config: unknown;
  metrics?: Record<string, number>;
  optimizerStepCount: number;
}
