// One `troupe data` run: the pipeline, then tokenization (when configured), then the output files.
import path from "node:path";
import type { CurationConfig } from "./config.ts";
import { runCuration, type CurationResult, type RunOptions } from "./pipeline.ts";
import { tokenizeCorpus, type TokenizedCorpus } from "./tokenize.ts";
import { writeCurationOutput, type OutputFiles } from "./output.ts";

export interface CurationRun {
  result: CurationResult;
  files: OutputFiles;
  tokenized?: TokenizedCorpus;
}

export async function curateToFolder(
  config: CurationConfig,
  baseDir: string,
  outDir: string,
  opts: RunOptions & { configFile?: string } = {},
): Promise<CurationRun> {
  const result = await runCuration(config, baseDir, opts);
  let tokenized: TokenizedCorpus | undefined;
  if (config.tokenize) {
    opts.onStage?.("tokenize");
    const t = tokenizeCorpus(path.join(outDir, "tokenized"), result.docs, result.valid, config.tokenize, opts.onProgress);
    result.reports.push(t.report);
    tokenized = t.result;
  }
  const files = await writeCurationOutput(outDir, result, opts.configFile ? { config: opts.configFile } : {});
  return tokenized ? { result, files, tokenized } : { result, files };
}
