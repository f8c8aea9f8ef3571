// A checkpoint opened for evaluation or generation, on one process or on the workers of a parallel
// inference job, behind one face: a ScoringModel (ml/eval) and a source of next tokens (ml/generate).
import { loadCheckpointHeader, loadModel } from "../../ml/eval/load-model.ts";
import type { ScoringModel, TextTokenizer } from "../../ml/eval/types.ts";
import { generate, type GenerateOptions, type GenerateResult } from "../../ml/generate/generate.ts";
import type { GptConfig } from "../../ml/model/types.ts";
import { startInferenceJob } from "./driver.ts";
import { checkInferenceLayout } from "../../ml/parallel-model/inference-layout.ts";

export interface ParallelPlacement {
  /** replicas for scoring (default 1); generation uses one */
  dp?: number;
  pp: number;
  tp: number;
  /** BLAS threads per worker */
  threads?: number;
  /** a running cluster; absent = a private nats-server and host agent */
  natsUrl?: string;
  token?: string;
  /** the CA of a TLS cluster */
  caFile?: string;
  clusterId?: string;
}

export interface OpenedModel {
  config: GptConfig;
  tokenizer: TextTokenizer;
  endOfText?: number;
  /** checkpoint step folder and step */
  dir: string;
  step: number;
  /** "one process" or "dp 1 × pp 2 × tp 2 workers (…)" */
  where: string;
  scoring: ScoringModel;
  /** Continues a prompt, streaming tokens to options.onToken (ml/generate generate()). */
  generate(prompt: readonly number[], options: GenerateOptions): Promise<GenerateResult>;
  close(): Promise<void>;
}

/** Opens `checkpoint` (step folder, root or run directory) on one process, or on dp × pp × tp workers when `parallel`. */
export async function openInferenceModel(
  checkpoint: string,
  options: { tokenizerFile?: string; parallel?: ParallelPlacement } = {},
): Promise<OpenedModel> {
  const p = options.parallel;
  if (!p) {
    const { model, tokenizer, endOfText, weights } = await loadModel(checkpoint, { tokenizerFile: options.tokenizerFile });
    return {
      config: model.config,
      tokenizer,
      endOfText,
      dir: weights.dir,
      step: weights.manifest.step,
      where: "one process",
      scoring: model,
      generate: (prompt, o) => generate(model, prompt, o),
      close: async () => undefined,
    };
  }
  const header = loadCheckpointHeader(checkpoint, { tokenizerFile: options.tokenizerFile });
  checkInferenceLayout(header.config, p); // before any process starts
  const job = await startInferenceJob({ checkpoint: header.dir, config: header.config, ...p });
  // the private nats-server runs in its own process group (Ctrl-C does not reach it): stop it, and the workers
  const onSignal = (signal: NodeJS.Signals) => void job.close().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    config: header.config,
    tokenizer: header.tokenizer,
    endOfText: header.endOfText,
    dir: header.dir,
    step: header.manifest.step,
    where: `dp ${p.dp ?? 1} × pp ${p.pp} × tp ${p.tp} workers (${job.jobId}${p.natsUrl ? ` on ${p.natsUrl}` : ", private local cluster"})`,
    scoring: job,
    generate: (prompt, o) => job.generate(prompt, o),
    close: async () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await job.close();
    },
  };
}
