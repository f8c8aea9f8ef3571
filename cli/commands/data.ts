// `troupe data <config.yaml> --out DIR`: the corpus curation pipeline.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { pino } from "pino";
import { actorFinder } from "../../actors/dedup/actor-fuzzy-dedup.ts";
import { curateToFolder, formatSummary, loadCurationConfig, type CurationConfig, type NearDuplicateFinder } from "../../ml/curation/mod.ts";
import { stopOnSignals } from "../../ml/train/interrupt.ts";
import { readToken } from "../cluster/cluster-file.ts";
import { checkReachable } from "../cluster/cluster-options.ts";

interface DataOptions {
  out: string;
  workers?: string;
  actors?: string;
  reducers?: string;
  nats?: string;
  tokenFile?: string;
  clusterId: string;
  quiet?: boolean;
}

/** Signature actors when --actors is not given: one per core, at most 4. */
export function defaultActors(): number {
  return Math.min(4, os.availableParallelism());
}

function count(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > 64)
    throw new UsageError(`${flag} must be an integer from ${min} to 64, got "${value}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command("data")
    .summary(summaryOf("data"))
    .description(
      "Curate a training corpus: sources → cleanup → quality filter → exact dedup → fuzzy dedup (MinHash LSH) → " +
        "decontamination against evaluation tasks → blend → tokenize. Writes corpus.jsonl, valid.jsonl, report.json, " +
        "report.txt and (with a tokenize section) tokenized/{tokenizer.json,train.bin,train.idx,valid.bin,valid.idx,meta.json} to --out.",
    )
    .argument("<config>", "curation config (YAML); see examples/curation.yaml")
    .requiredOption("--out <dir>", "output folder (created if missing)")
    .option(
      "--actors <n>",
      `fuzzy dedup on N signature actors (supervised processes); 0 or 1 = in this process with worker threads (default ${defaultActors()}: one per core, at most 4)`,
    )
    .option("--reducers <m>", "LSH band reducer actors (default: half the signature actors, at least 1)")
    .option("--workers <n>", "in-process fuzzy dedup (--actors 0/1): override dedup.fuzzy.workers (worker threads)")
    .option(
      "--nats <url>",
      "run the dedup actors on this running cluster's host agents (default: a private nats-server and host agent); --out must be on a filesystem every host sees",
    )
    .option("--token-file <file>", "file holding the NATS token (with --nats)")
    .option("--cluster-id <id>", "cluster id (with --nats)", "local")
    .option("--quiet", "no progress lines or bars")
    .addHelpText(
      "after",
      "\nConfig sections: seed, datasets[] {name, source, priority, weight}, cleanup, quality, dedup {exact, fuzzy},\n" +
        "decontamination {tasks[], ngram, maxFrequency, removeChars, minFragment, maxSplits}, blend {mode, totalBytes},\n" +
        "tokenize {vocabSize, validPerDataset}.\n" +
        "Sources: {brown: genre|[genres]}, {text: file, split: paragraph|line|file}, {folder: dir}, {jsonl: file, field},\n" +
        "{corrupted: <source>} (synthetic low-quality negatives).\n" +
        "Fuzzy dedup on actors: documents are written as shard files under --out; signature actors hash shards and route\n" +
        "band keys to reducer actors; a crashed actor is restarted by its supervisor and its shard given to another actor.\n" +
        "Actor logs: <out>/dedup-actors.log.",
    )
    .action(runData);
}

/** The action: curates the corpus to --out, with the fuzzy dedup on actors when there are two or more. */
async function runData(configFile: string, opts: DataOptions): Promise<void> {
  const { config, baseDir } = loadCurationConfig(configFile);
  const { actors, reducers } = dedupCounts(config, opts);
  // the cluster is first used at the fuzzy dedup, after the earlier stages: an unreachable one fails now
  if (opts.nats) await checkReachable({ url: opts.nats, token: opts.tokenFile ? readToken(opts.tokenFile) : undefined });
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`troupe data: ${line}\n`);
  };
  const fuzzyFinder = actors >= 2 && config.dedup?.fuzzy ? actorsFinder(opts, actors, reducers, say) : undefined;
  const stages = stageReporter(say, !opts.quiet && process.stderr.isTTY);
  const { result, files, tokenized } = await curateToFolder(config, baseDir, opts.out, {
    configFile,
    ...(fuzzyFinder ? { fuzzyFinder } : {}),
    onStage: stages.onStage,
    onProgress: stages.onProgress,
  });
  stages.stop();
  console.log(formatSummary(result.reports));
  console.log(
    `wrote ${files.corpus} (${result.docs.length} documents), ${files.valid} (${result.valid.length}), ${files.reportJson}, ${files.reportText}`,
  );
  if (tokenized) {
    console.log(
      `tokenized: ${tokenized.dir} (tokenizer.json, train.bin/.idx ${tokenized.trainTokens} tokens, valid.bin/.idx ${tokenized.validTokens} tokens, ` +
        `vocabulary ${tokenized.vocabSize}, unigram entropy ${tokenized.unigramEntropyNats.toFixed(3)} nats)`,
    );
  }
}

/** Signature actors and reducers from the options (--workers goes into the config); rejects options that do not fit together. */
function dedupCounts(config: CurationConfig, opts: DataOptions): { actors: number; reducers: number } {
  if (opts.workers !== undefined) {
    const n = count("--workers", opts.workers, 1);
    if (config.dedup?.fuzzy) config.dedup.fuzzy.workers = n;
  }
  const actors = opts.actors === undefined ? defaultActors() : count("--actors", opts.actors, 0);
  const reducers = opts.reducers === undefined ? Math.max(1, Math.floor(actors / 2)) : count("--reducers", opts.reducers, 1);
  if (opts.tokenFile && !opts.nats) throw new UsageError("--token-file needs --nats");
  if (opts.nats && actors < 2) throw new UsageError("--nats runs the fuzzy dedup on actors: give --actors 2 or more");
  return { actors, reducers };
}

/** The fuzzy dedup on actors (a private nats-server, or --nats's cluster); Ctrl-C during it stops the actors and the private nats-server before exiting. */
function actorsFinder(opts: DataOptions, actors: number, reducers: number, say: (line: string) => void): NearDuplicateFinder {
  const onActors = actorFinder({
    signatureActors: actors,
    reducers,
    workDir: path.resolve(opts.out),
    ...(opts.nats ? { natsUrl: opts.nats, clusterId: opts.clusterId } : {}),
    ...(opts.tokenFile ? { token: readToken(opts.tokenFile) } : {}),
    logger: pino(
      { name: "fuzzy-dedup", base: { pid: process.pid } },
      pino.destination({ dest: path.join(opts.out, "dedup-actors.log"), mkdir: true, sync: true }),
    ),
    onNote: (line) => say(`fuzzy-dedup: ${line}`),
  });
  return async (texts, priorities, fuzzy, onProgress) => {
    const stop = new AbortController();
    const removeHandlers = stopOnSignals(stop, (sig) => say(`${sig}: stopping the dedup actors`));
    try {
      return await onActors(texts, priorities, fuzzy, onProgress, stop.signal);
    } finally {
      removeHandlers();
    }
  };
}

/** Stage callbacks for curateToFolder: a line as each stage starts and, when `showBars`, a progress bar per stage. */
function stageReporter(say: (line: string) => void, showBars: boolean) {
  let bar: SingleBar | undefined;
  let barStage = "";
  return {
    onStage: (stage: string) => {
      bar?.stop();
      bar = undefined;
      say(`${stage}…`);
    },
    onProgress: (stage: string, done: number, total: number) => {
      if (!showBars) return;
      if (stage !== barStage || !bar) {
        bar?.stop();
        barStage = stage;
        bar = new SingleBar({ format: `  ${stage} [{bar}] {value}/{total}`, stream: process.stderr }, Presets.shades_classic);
        bar.start(total, done);
      } else bar.update(done);
      if (done >= total) {
        bar.stop();
        bar = undefined;
      }
    },
    /** Stops a bar still showing. */
    stop: () => bar?.stop(),
  };
}
