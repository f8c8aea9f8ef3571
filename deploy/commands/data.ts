// `troupe data <config.yaml> --out DIR`: the corpus curation pipeline.
import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { curateToFolder, formatSummary, loadCurationConfig } from "../../actors/curation/mod.ts";

export function register(program: Command): void {
  program
    .command("data")
    .description(
      "Curate a training corpus: sources → cleanup → quality filter → exact dedup → fuzzy dedup (MinHash LSH) → " +
        "decontamination against evaluation tasks → blend → tokenize. Writes corpus.jsonl, valid.jsonl, report.json, " +
        "report.txt and (with a tokenize section) tokenized/{tokenizer.json,train.bin,train.idx,valid.bin,valid.idx,meta.json} to --out.",
    )
    .argument("<config>", "curation config (YAML); see examples/curation.yaml")
    .requiredOption("--out <dir>", "output folder (created if missing)")
    .option("--workers <n>", "override dedup.fuzzy.workers (worker threads for MinHash and LSH reducers)")
    .option("--quiet", "no progress bars")
    .addHelpText(
      "after",
      "\nConfig sections: seed, datasets[] {name, source, priority, weight}, cleanup, quality, dedup {exact, fuzzy},\n" +
        "decontamination {tasks[], ngram, maxFrequency, removeChars, minFragment, maxSplits}, blend {mode, totalBytes},\n" +
        "tokenize {vocabSize, validPerDataset}.\n" +
        "Sources: {brown: genre|[genres]}, {text: file, split: paragraph|line|file}, {folder: dir}, {jsonl: file, field},\n" +
        "{corrupted: <source>} (synthetic low-quality negatives).",
    )
    .action(async (configFile: string, opts: { out: string; workers?: string; quiet?: boolean }) => {
      const { config, baseDir } = loadCurationConfig(configFile);
      if (opts.workers !== undefined) {
        const n = Number(opts.workers);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--workers must be a positive integer, got "${opts.workers}"`);
        if (config.dedup?.fuzzy) config.dedup.fuzzy.workers = n;
      }
      const showBars = !opts.quiet && process.stderr.isTTY;
      let bar: SingleBar | undefined;
      let barStage = "";
      const { result, files, tokenized } = await curateToFolder(config, baseDir, opts.out, {
        configFile,
        onStage: (stage) => {
          bar?.stop();
          bar = undefined;
          if (!opts.quiet) process.stderr.write(`troupe data: ${stage}…\n`);
        },
        onProgress: (stage, done, total) => {
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
      });
      bar?.stop();
      console.log(formatSummary(result.reports));
      console.log(`wrote ${files.corpus} (${result.docs.length} documents), ${files.valid} (${result.valid.length}), ${files.reportJson}, ${files.reportText}`);
      if (tokenized) {
        console.log(
          `tokenized: ${tokenized.dir} (tokenizer.json, train.bin/.idx ${tokenized.trainTokens} tokens, valid.bin/.idx ${tokenized.validTokens} tokens, ` +
            `vocabulary ${tokenized.vocabSize}, unigram entropy ${tokenized.unigramEntropyNats.toFixed(3)} nats)`,
        );
      }
    });
}
