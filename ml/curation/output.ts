// Writes a curation run to its output folder: the blended corpus as JSON Lines, and the report as
// JSON and as readable text. Files are written under a temporary name and renamed when whole.
import { mkdirSync, renameSync, writeFileSync, createWriteStream } from "node:fs";
import path from "node:path";
import { once } from "node:events";
import type { CurationResult } from "./pipeline.ts";
import type { CurationDoc } from "./types.ts";
import { formatReport } from "./report-format.ts";

export interface OutputFiles {
  corpus: string;
  valid: string;
  reportJson: string;
  reportText: string;
}

function writeWhole(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

async function writeJsonl(file: string, docs: readonly CurationDoc[]): Promise<void> {
  const stream = createWriteStream(`${file}.tmp`);
  for (const d of docs) {
    if (!stream.write(`${JSON.stringify({ id: d.id, dataset: d.dataset, text: d.text })}\n`)) await once(stream, "drain");
  }
  stream.end();
  await once(stream, "finish");
  renameSync(`${file}.tmp`, file);
}

export async function writeCurationOutput(
  outDir: string,
  result: CurationResult,
  extra: Record<string, unknown> = {},
): Promise<OutputFiles> {
  mkdirSync(outDir, { recursive: true });
  const files: OutputFiles = {
    corpus: path.join(outDir, "corpus.jsonl"),
    valid: path.join(outDir, "valid.jsonl"),
    reportJson: path.join(outDir, "report.json"),
    reportText: path.join(outDir, "report.txt"),
  };
  await writeJsonl(files.corpus, result.docs);
  await writeJsonl(files.valid, result.valid);
  writeWhole(files.reportJson, `${JSON.stringify({ ...extra, stages: result.reports }, null, 2)}\n`);
  writeWhole(files.reportText, `${formatReport(result.reports)}\n`);
  return files;
}
