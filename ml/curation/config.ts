// The `troupe data` configuration: a YAML file validated with zod. Paths inside it are relative
// to the config file. Every stage except cleanup is optional: leave its section out to skip it.
import { pathOf } from "../../runtime/zod-issue.ts";
import { CurationConfigError } from "./errors.ts";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { SourceSpec } from "./sources.ts";
import { CORRUPTION_KINDS } from "./corrupt.ts";

const sourceSchema: z.ZodType<SourceSpec> = z.lazy(() =>
  z.union(
    [
      z.object({ brown: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]) }).strict(),
      z.object({ text: z.string().min(1), split: z.enum(["file", "paragraph", "line"]).optional() }).strict(),
      z.object({ folder: z.string().min(1), extensions: z.array(z.string().min(1)).optional() }).strict(),
      z.object({ jsonl: z.string().min(1), field: z.string().min(1).optional() }).strict(),
      z
        .object({
          corrupted: sourceSchema,
          kinds: z
            .array(z.enum(CORRUPTION_KINDS as [string, ...string[]]))
            .min(1)
            .optional(),
        })
        .strict(),
    ],
    {
      error:
        "a source is one of {brown: genre|[genres]}, {text: file, split?}, {folder: dir, extensions?}, {jsonl: file, field?}, {corrupted: source, kinds?}",
    },
  ),
) as z.ZodType<SourceSpec>;

const datasetSchema = z
  .object({
    name: z.string().regex(/^[\w.-]+$/, "use letters, digits, '.', '_' or '-'"),
    source: sourceSchema,
    /** Higher priority wins when near-duplicates span datasets. */
    priority: z.number().default(0),
    /** Blend weight: epochs (blend.mode epochs) or share of output bytes (blend.mode fractions). */
    weight: z.number().min(0).optional(),
  })
  .strict();

const unit = z.number().min(0).max(1);

const configSchema = z
  .object({
    seed: z.number().int().nonnegative().default(1),
    datasets: z.array(datasetSchema).min(1),
    cleanup: z
      .object({
        normalize: z.enum(["NFC", "NFKC", "none"]).default("NFC"),
        minChars: z.number().int().nonnegative().default(200),
      })
      .strict()
      .default({ normalize: "NFC", minChars: 200 }),
    quality: z
      .object({
        positives: z.array(sourceSchema).min(1),
        negatives: z.array(sourceSchema).min(1),
        threshold: unit.default(0.5),
        heldOut: z.number().gt(0).lt(1).default(0.25),
        datasets: z.array(z.string()).optional(),
        buckets: z
          .number()
          .int()
          .min(16)
          .max(1 << 24)
          .default(1 << 16),
        ngrams: z.number().int().min(1).max(4).default(2),
        iterations: z.number().int().positive().default(200),
        learningRate: z.number().positive().default(16),
        l2: z.number().min(0).default(1e-4),
      })
      .strict()
      .optional(),
    dedup: z
      .object({
        exact: z.boolean().default(true),
        fuzzy: z
          .object({
            shingle: z.number().int().positive().default(5),
            bands: z.number().int().positive().max(65535).default(20),
            rows: z.number().int().positive().default(13),
            threshold: unit.default(0.8),
            workers: z.number().int().positive().max(64).default(2),
            seed: z.number().int().nonnegative().default(1),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    decontamination: z
      .object({
        tasks: z.array(z.object({ path: z.string().min(1), splits: z.array(z.string()).optional() }).strict()).min(1),
        ngram: z.number().int().positive().default(13),
        minNgram: z.number().int().positive().default(8),
        maxFrequency: z.number().int().positive().default(10),
        removeChars: z.number().int().nonnegative().default(200),
        minFragment: z.number().int().nonnegative().default(200),
        maxSplits: z.number().int().positive().default(10),
      })
      .strict()
      .refine((d) => d.minNgram <= d.ngram, { message: "minNgram must not exceed ngram", path: ["minNgram"] })
      .optional(),
    tokenize: z
      .object({
        vocabSize: z
          .number()
          .int()
          .min(257)
          .max(1 << 20),
        validPerDataset: z.number().int().min(1).default(1),
      })
      .strict()
      .optional(),
    blend: z
      .object({
        mode: z.enum(["epochs", "fractions"]).default("epochs"),
        totalBytes: z.number().int().positive().optional(),
      })
      .strict()
      .default({ mode: "epochs" }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.datasets.forEach((d, i) => {
      if (names.has(d.name))
        ctx.addIssue({ code: "custom", message: `dataset name "${d.name}" is used twice`, path: ["datasets", i, "name"] });
      names.add(d.name);
    });
    for (const [i, name] of (c.quality?.datasets ?? []).entries()) {
      if (!names.has(name)) ctx.addIssue({ code: "custom", message: `unknown dataset "${name}"`, path: ["quality", "datasets", i] });
    }
    if (c.blend.mode === "fractions") {
      c.datasets.forEach((d, i) => {
        if (d.weight === undefined)
          ctx.addIssue({
            code: "custom",
            message: "blend.mode fractions needs a weight on every dataset",
            path: ["datasets", i, "weight"],
          });
      });
    }
  });

export type CurationConfig = z.infer<typeof configSchema>;

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      return `${pathOf(issue)}: ${issue.message}`;
    })
    .join("; ");
}

/** Validates an already-parsed config object. */
export function parseCurationConfig(raw: unknown, source = "config"): CurationConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new CurationConfigError(`${source}: ${describe(result.error)}`);
  return result.data;
}

/** Reads and validates a YAML config; returns it with the folder its relative paths resolve against. */
export function loadCurationConfig(file: string): { config: CurationConfig; baseDir: string } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CurationConfigError(`cannot read config ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new CurationConfigError(`${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`, { cause: err });
  }
  return { config: parseCurationConfig(raw, file), baseDir: path.dirname(path.resolve(file)) };
}
