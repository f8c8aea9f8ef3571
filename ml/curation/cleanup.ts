// Cleanup: Unicode normalisation, control characters, a minimum length.
import type { CurationDoc, StageReport } from "./types.ts";
import { StageTally } from "./stage-tally.ts";
import { utf8Bytes } from "./text-util.ts";

export interface CleanupConfig {
  /** Unicode normal form; NFKC also folds compatibility characters (ligatures, full-width forms). */
  normalize: "NFC" | "NFKC" | "none";
  /** Documents shorter than this many characters after cleaning are dropped. */
  minChars: number;
}

// C0/C1 controls except tab, newline and carriage return; plus zero-width and BOM characters that
// survive normalisation and break tokenisation.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B\u200E\u200F\u2028\u2029\uFEFF]/g;

/** The cleaned text of one document: normalised, controls removed, line endings and blank runs unified. */
export function cleanText(text: string, normalize: CleanupConfig["normalize"]): string {
  let out = normalize === "none" ? text : text.normalize(normalize);
  out = out.replace(/\r\n?/g, "\n").replace(CONTROL, "");
  out = out.replace(/[ \t]+\n/g, "\n").replace(/\n{3,}/g, "\n\n");
  return out.trim();
}

export function cleanup(docs: readonly CurationDoc[], config: CleanupConfig): { docs: CurationDoc[]; report: StageReport } {
  const tally = new StageTally("cleanup", docs);
  const out: CurationDoc[] = [];
  let changed = 0;
  for (const doc of docs) {
    const text = cleanText(doc.text, config.normalize);
    if (text.length < config.minChars) {
      tally.remove(doc, `shorter than ${config.minChars} characters after cleaning`);
      continue;
    }
    if (text !== doc.text) {
      changed += 1;
      const cut = utf8Bytes(doc.text) - utf8Bytes(text);
      if (cut > 0) tally.remove(doc, "characters removed (controls, whitespace, normalisation)", { bytes: cut });
    }
    out.push(text === doc.text ? doc : { ...doc, text });
  }
  tally.details.changedDocs = changed;
  tally.details.normalize = config.normalize;
  return { docs: out, report: tally.finish(out) };
}
