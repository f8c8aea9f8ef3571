// Training configuration: a YAML file validated with zod. A bad config is refused before anything
// starts, with one message per problem naming the field path, the value found and what is allowed.
import { pathOf } from "../../runtime/zod-issue.ts";
import { TrainConfigError } from "./errors.ts";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const positiveNumber = z.number().positive();

const modelSchema = z
  .object({
    layers: positiveInt,
    dModel: positiveInt,
    heads: positiveInt,
    seqLen: positiveInt,
  })
  .strict()
  .refine((m) => m.dModel % m.heads === 0, { message: "dModel must be divisible by heads", path: ["dModel"] });

const dataSchema = z
  .object({
    /** `brown`: prepared here from the Brown corpus; `prepared`: a folder made by `troupe data` (its `tokenized/`). */
    corpus: z.enum(["brown", "prepared"]),
    /** With `corpus: prepared`: the folder holding meta.json, tokenizer.json and train/valid .bin/.idx. */
    dir: z.string().min(1).optional(),
    vocabSize: z.number().int().min(257, "must be at least 257 (256 bytes + the end-of-text token)").max(65536),
    /** Documents of each of the corpus's genres held out for validation (Brown: 15 genres). */
    heldOutPerGenre: z.number().int().min(1).max(20).default(2),
    /** Chooses which documents are held out. */
    seed: nonNegativeInt.default(1234),
    cacheDir: z.string().min(1).optional(),
  })
  .strict()
  .refine((d) => (d.corpus === "prepared") === (d.dir !== undefined), {
    message: "`dir` is required with corpus: prepared, and only allowed with it",
    path: ["dir"],
  });

const optimizerSchema = z
  .object({
    lr: positiveNumber.max(1),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.95),
    eps: positiveNumber.default(1e-8),
    weightDecay: z.number().min(0).default(0.1),
    clip: positiveNumber.default(1.0),
  })
  .strict();

const batchSchema = z
  .object({
    /** Final global batch size, in sequences. */
    size: positiveInt,
    /** Sequences per forward/backward; the step accumulates size / microBatch micro-batches. */
    microBatch: positiveInt,
    /** Optional ramp-up (MT-NLG): start at `start`, grow by `increment` in equal slices of `rampTokens`. */
    rampStart: positiveInt.optional(),
    rampIncrement: positiveInt.optional(),
    rampTokens: nonNegativeInt.optional(),
  })
  .strict();

const scheduleSchema = z
  .object({
    warmupTokens: nonNegativeInt,
    /** Token count at which the cosine reaches minLrRatio · peak (the decay horizon). */
    decayTokens: positiveInt,
    minLrRatio: z.number().min(0).max(1).default(0.1),
  })
  .strict()
  .refine((s) => s.decayTokens > s.warmupTokens, {
    message: "decayTokens must be greater than warmupTokens",
    path: ["decayTokens"],
  });

const trainSchema = z
  .object({
    tokens: positiveInt.optional(),
    steps: positiveInt.optional(),
  })
  .strict()
  .refine((t) => (t.tokens === undefined) !== (t.steps === undefined), {
    message: "set exactly one of train.tokens or train.steps",
  });

const evalSchema = z
  .object({
    /** Validation loss every `interval` steps (and at the end). */
    interval: positiveInt,
    /** Held-out micro-batches averaged per validation. */
    batches: positiveInt.default(8),
  })
  .strict();

const checkpointSchema = z
  .object({
    interval: positiveInt,
    keep: positiveInt.default(3),
  })
  .strict();

const samplesSchema = z
  .object({
    prompts: z.array(z.string().min(1)).default(["The ", "He said that", "In the morning"]),
    tokens: positiveInt.default(40),
    temperature: z.number().positive().max(10).default(0.8),
  })
  .strict();

const parallelSchema = z
  .object({
    /** Data-parallel replicas, pipeline stages and tensor shards (as `troupe plan` reads them). */
    dp: positiveInt.default(1),
    pp: positiveInt.default(1),
    tp: positiveInt.default(1),
    /** Axis order from fastest to slowest, e.g. "tp-dp-pp" (Megatron's default when absent). */
    order: z.string().min(1).optional(),
    /** ZeRO stage: 0 (every replica holds all AdamW moments) or 1 (moments sharded over the dp replicas). */
    zero: z
      .number({ message: "parallel.zero must be 0 or 1 (the ZeRO stage; only stage 1 is implemented)" })
      .refine((z) => z === 0 || z === 1, { message: "parallel.zero must be 0 or 1 (the ZeRO stage; only stage 1 is implemented)" })
      .default(0),
  })
  .strict();

/**
 * Restart intensity of a distributed job's workers (OTP): more than `maxRestarts` worker failures within
 * `periodSeconds` escalate to the job, which stops with a checkpoint and the cause instead of looping.
 */
const recoverySchema = z
  .object({
    maxRestarts: nonNegativeInt.default(3),
    periodSeconds: positiveNumber.max(86_400).default(60),
  })
  .strict();

/**
 * Elastic data parallelism (pp = tp = 1): a lost replica whose replacement has not come `replaceTimeout` seconds
 * after the loss is dropped, and the job goes on with fewer replicas (never under `minDp`) and the same global
 * batch (docs/guide/elastic.md).
 */
const elasticSchema = z
  .object({
    minDp: positiveInt,
    replaceTimeout: positiveNumber.max(600).default(20),
    /** Grow back to parallel.dp by itself when a host agent joins the cluster (default: only `troupe scale`). */
    growOnJoin: z.boolean().default(false),
  })
  .strict();

const trainConfigSchema = z
  .object({
    name: z.string().min(1).default("run"),
    seed: nonNegativeInt.default(1234),
    runDir: z.string().min(1).optional(),
    threads: z.number().int().min(1).max(256).default(1),
    logInterval: positiveInt.default(10),
    model: modelSchema,
    data: dataSchema,
    optimizer: optimizerSchema,
    batch: batchSchema,
    schedule: scheduleSchema,
    train: trainSchema,
    eval: evalSchema,
    checkpoint: checkpointSchema,
    parallel: parallelSchema.default({ dp: 1, pp: 1, tp: 1, zero: 0 }),
    samples: samplesSchema.default({ prompts: ["The ", "He said that", "In the morning"], tokens: 40, temperature: 0.8 }),
    recovery: recoverySchema.default({ maxRestarts: 3, periodSeconds: 60 }),
    elastic: elasticSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkElastic(c, ctx);
    const { size, microBatch, rampStart, rampIncrement, rampTokens } = c.batch;
    if (size % microBatch !== 0) {
      ctx.addIssue({ code: "custom", path: ["batch", "size"], message: `must be a multiple of batch.microBatch (${microBatch})` });
    }
    const rampFields = [rampStart, rampIncrement, rampTokens].filter((v) => v !== undefined).length;
    if (rampFields !== 0 && rampFields !== 3) {
      ctx.addIssue({
        code: "custom",
        path: ["batch"],
        message: "batch ramp-up needs all of rampStart, rampIncrement and rampTokens (or none)",
      });
    } else if (rampStart !== undefined && rampIncrement !== undefined) {
      if (rampStart > size) {
        ctx.addIssue({ code: "custom", path: ["batch", "rampStart"], message: `must be at most batch.size (${size})` });
      }
      if ((size - rampStart) % rampIncrement !== 0) {
        ctx.addIssue({
          code: "custom",
          path: ["batch", "rampIncrement"],
          message: `must divide batch.size - batch.rampStart (${size - rampStart})`,
        });
      }
      for (const [key, value] of [
        ["rampStart", rampStart],
        ["rampIncrement", rampIncrement],
      ] as const) {
        if (value % microBatch !== 0) {
          ctx.addIssue({ code: "custom", path: ["batch", key], message: `must be a multiple of batch.microBatch (${microBatch})` });
        }
      }
    }
  });

export type TrainConfig = z.output<typeof trainConfigSchema>;

/** ZeRO-1 with dp > 2: the moments are cut into dp shards, each written by its owner (actors/coordinator/checkpoints.ts). */
export function zeroShardsOf(config: Pick<TrainConfig, "parallel">): number | undefined {
  const { zero, dp } = config.parallel;
  return zero === 1 && dp > 2 ? dp : undefined;
}

/**
 * An elastic ZeRO-1 job above dp 2: a resize re-shards the moments with every live replica taking part (the
 * `reshard` verb); at dp ≤ 2 every rank holds them whole and re-shards alone.
 */
export function zeroReshardsLive(config: Pick<TrainConfig, "parallel" | "elastic">): boolean {
  return zeroShardsOf(config) !== undefined && config.elastic !== undefined;
}

function checkElastic(c: Pick<TrainConfig, "elastic" | "parallel">, ctx: z.RefinementCtx): void {
  if (!c.elastic) return;
  const { dp, pp, tp } = c.parallel;
  const issue = (key: string, message: string) => ctx.addIssue({ code: "custom", path: ["elastic", key], message });
  if (pp * tp !== 1) issue("minDp", `elastic data parallelism needs pp = tp = 1 (parallel has pp ${pp}, tp ${tp})`);
  if (c.elastic.minDp > dp) issue("minDp", `must be at most parallel.dp (${dp})`);
}

function valueAt(raw: unknown, pathParts: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of pathParts) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function describeValue(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    const where = pathOf(issue, "");
    return `unknown field ${issue.keys.map((k) => `\`${where ? `${where}.` : ""}${k}\``).join(", ")} (not part of the training config)`;
  }
  const field = pathOf(issue);
  const value = valueAt(raw, issue.path);
  if (issue.code === "invalid_type" && value === undefined) return `\`${field}\`: missing; required (${issue.expected})`;
  return `\`${field}\`: got ${describeValue(value)}; ${issue.message.replace(/^Invalid input: /, "")}`;
}

/** Validates an already-parsed object; throws TrainConfigError listing every problem. */
export function parseTrainConfig(raw: unknown, source = "config"): TrainConfig {
  const result = trainConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => describeIssue(raw, i));
    throw new TrainConfigError(`invalid ${source}: ${lines.join("; ")}`);
  }
  return result.data;
}

/** Reads and validates a YAML training config. */
export function loadTrainConfig(file: string): TrainConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new TrainConfigError(`cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new TrainConfigError(`config file ${file} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parseTrainConfig(raw, `config ${path.basename(file)}`);
}

/** The config's restart intensity in the supervisor's units. */
export function restartIntensityOf(c: TrainConfig): { maxRestarts: number; periodMs: number } {
  return { maxRestarts: c.recovery.maxRestarts, periodMs: Math.max(1, Math.round(c.recovery.periodSeconds * 1000)) };
}

/** The ramp-up as a triple, or a constant batch when the config has none. */
export function batchRampOf(c: TrainConfig): { start: number; increment: number; rampTokens: number; final: number } {
  const { size, rampStart, rampIncrement, rampTokens } = c.batch;
  if (rampStart === undefined || rampIncrement === undefined || rampTokens === undefined) {
    return { start: size, increment: size, rampTokens: 0, final: size };
  }
  return { start: rampStart, increment: rampIncrement, rampTokens, final: size };
}

export function lrScheduleOf(c: TrainConfig): { peak: number; warmupTokens: number; decayTokens: number; minRatio: number } {
  return {
    peak: c.optimizer.lr,
    warmupTokens: c.schedule.warmupTokens,
    decayTokens: c.schedule.decayTokens,
    minRatio: c.schedule.minLrRatio,
  };
}
