// What `troupe plan` reads from a training YAML: the model shape, the batch and the parallel sizes.
// Only these sections are read (other sections are ignored), so the full training config works as input;
// `data.vocabSize` is where the training config keeps the vocabulary, `model.vocabSize` is accepted too.
import { issueText } from "../../runtime/zod-issue.ts";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { InvalidLayoutError } from "./errors.ts";

const positiveInt = z.number().int().positive();

const planInputSchema = z.object({
  model: z.object({
    layers: positiveInt,
    dModel: positiveInt,
    seqLen: positiveInt,
    vocabSize: positiveInt.optional(),
  }),
  data: z.object({ vocabSize: positiveInt.optional() }).optional(),
  batch: z.object({ size: positiveInt, microBatch: positiveInt }),
  parallel: z
    .object({
      dp: positiveInt.default(1),
      pp: positiveInt.default(1),
      tp: positiveInt.default(1),
      order: z.string().optional(),
    })
    .optional(),
});

export interface PlanConfig {
  model: { layers: number; dModel: number; seqLen: number; vocabSize: number };
  batch: { size: number; microBatch: number };
  parallel: { dp: number; pp: number; tp: number; order?: string };
}

function parsePlanConfig(raw: unknown, source = "config"): PlanConfig {
  const r = planInputSchema.safeParse(raw);
  if (!r.success) {
    throw new InvalidLayoutError(`invalid ${source}: ${issueText(r.error)}`);
  }
  const vocabSize = r.data.model.vocabSize ?? r.data.data?.vocabSize;
  if (vocabSize === undefined) throw new InvalidLayoutError(`invalid ${source}: set data.vocabSize (or model.vocabSize)`);
  const { layers, dModel, seqLen } = r.data.model;
  return {
    model: { layers, dModel, seqLen, vocabSize },
    batch: r.data.batch,
    parallel: r.data.parallel ?? { dp: 1, pp: 1, tp: 1 },
  };
}

export function loadPlanConfig(file: string): PlanConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new InvalidLayoutError(`cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new InvalidLayoutError(`config file ${file} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parsePlanConfig(raw, `config ${file}`);
}
