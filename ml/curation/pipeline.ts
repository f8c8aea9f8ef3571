// The curation pipeline: sources → cleanup → quality filter → exact dedup → fuzzy dedup →
// decontamination → blend. Each stage returns its output documents and a StageReport.
import type { CurationDoc, ProgressFn, StageReport } from "./types.ts";
import type { CurationConfig } from "./config.ts";
import { describeSource, loadSource } from "./sources.ts";
import { SourceError } from "./errors.ts";
import { cleanText, cleanup } from "./cleanup.ts";
import { qualityFilter, type LabelledText } from "./quality-filter.ts";
import { exactDedup } from "./exact-dedup.ts";
import { fuzzyDedup, type NearDuplicateFinder } from "./fuzzy-dedup.ts";
import { decontaminate } from "./decontaminate.ts";
import { loadTaskTexts } from "./task-texts.ts";
import { blend } from "./blend.ts";
import { StageTally } from "./stage-tally.ts";
import { utf8Bytes } from "./text-util.ts";
import { holdOutValidation } from "./tokenize.ts";

export interface CurationResult {
  /** The blended documents, in output order. */
  docs: CurationDoc[];
  /** Documents held out for validation before blending (only with a tokenize section). */
  valid: CurationDoc[];
  reports: StageReport[];
}

export interface RunOptions {
  onProgress?: ProgressFn;
  /** Called when a stage starts (for a terminal line). */
  onStage?: (stage: string) => void;
  /** How fuzzy dedup runs: default worker threads in this process; actorFinder() spreads it over actors. */
  fuzzyFinder?: NearDuplicateFinder;
}

function loadDatasets(config: CurationConfig, baseDir: string): { docs: CurationDoc[]; report: StageReport } {
  const docs: CurationDoc[] = [];
  const table: Array<Record<string, unknown>> = [];
  for (const ds of config.datasets) {
    let texts;
    try {
      texts = loadSource(ds.source, baseDir);
    } catch (err) {
      throw new SourceError(`dataset "${ds.name}": ${(err as Error).message}`, { cause: err });
    }
    const bytes = texts.reduce((s, t) => s + utf8Bytes(t.text), 0);
    table.push({ dataset: ds.name, source: describeSource(ds.source), priority: ds.priority, docs: texts.length, bytes });
    for (const t of texts) docs.push({ id: `${ds.name}/${t.id}`, dataset: ds.name, priority: ds.priority, text: t.text });
  }
  const tally = new StageTally("sources", docs);
  tally.details.datasets = table;
  return { docs, report: tally.finish(docs) };
}

/** The quality classifier's examples: positives labelled 1, negatives 0, cleaned like the corpus. */
function labelledExamples(config: CurationConfig, q: NonNullable<CurationConfig["quality"]>, baseDir: string): LabelledText[] {
  const labelled: LabelledText[] = [];
  for (const [specs, label] of [
    [q.positives, 1],
    [q.negatives, 0],
  ] as const) {
    for (const spec of specs) {
      for (const t of loadSource(spec, baseDir)) {
        const text = cleanText(t.text, config.cleanup.normalize);
        if (text.length > 0) labelled.push({ text, label });
      }
    }
  }
  return labelled;
}

export async function runCuration(config: CurationConfig, baseDir: string, opts: RunOptions = {}): Promise<CurationResult> {
  const reports: StageReport[] = [];
  const stage = (name: string): void => opts.onStage?.(name);

  stage("sources");
  let { docs, report } = loadDatasets(config, baseDir);
  reports.push(report);

  stage("cleanup");
  ({ docs, report } = cleanup(docs, config.cleanup));
  reports.push(report);

  if (config.quality) {
    stage("quality-filter");
    const q = config.quality;
    ({ docs, report } = qualityFilter(docs, labelledExamples(config, q, baseDir), { ...q, seed: config.seed }));
    reports.push(report);
  }

  if (config.dedup?.exact ?? false) {
    stage("exact-dedup");
    ({ docs, report } = exactDedup(docs));
    reports.push(report);
  }

  if (config.dedup?.fuzzy) {
    stage("fuzzy-dedup");
    ({ docs, report } = await fuzzyDedup(docs, config.dedup.fuzzy, opts.onProgress, opts.fuzzyFinder));
    reports.push(report);
  }

  if (config.decontamination) {
    stage("decontamination");
    const d = config.decontamination;
    const files = d.tasks.flatMap((t) => loadTaskTexts(t, baseDir));
    ({ docs, report } = decontaminate(
      docs,
      files.flatMap((f) => f.texts),
      d,
      opts.onProgress,
    ));
    report.details.taskFiles = files.map((f) => ({ file: f.file, texts: f.texts.length }));
    reports.push(report);
  }

  let valid: CurationDoc[] = [];
  if (config.tokenize) {
    stage("hold-out");
    const tally = new StageTally("hold-out", docs);
    const split = holdOutValidation(docs, config.tokenize.validPerDataset, config.seed);
    for (const d of split.valid) tally.remove(d, `held out for validation (${config.tokenize.validPerDataset} per dataset)`);
    tally.details.validDocuments = split.valid.length;
    ({ train: docs, valid } = split);
    reports.push(tally.finish(docs));
  }

  stage("blend");
  const weights: Record<string, number> = {};
  for (const ds of config.datasets) weights[ds.name] = ds.weight ?? 1; // fractions mode requires every weight
  const blendConfig = {
    mode: config.blend.mode,
    weights,
    seed: config.seed,
    ...(config.blend.totalBytes ? { totalBytes: config.blend.totalBytes } : {}),
  };
  ({ docs, report } = blend(docs, blendConfig));
  reports.push(report);
  return { docs, valid, reports };
}
