// Checkpoints name their tokenizer relative to the run: the tokenizer a run trains with (often a file in the data
// cache, which may be rebuilt or live on another machine) is copied once into the run directory as
// tokenizer.json, and manifests record "tokenizer.json" with its sha256. Loaders find it beside the checkpoints
// (ml/eval/load-model.ts resolveTokenizerFile looks in the run directory), so a run directory moved or copied
// elsewhere still opens.
import { copyFileSync, existsSync, renameSync } from "node:fs";
import path from "node:path";
import { sha256File } from "./safetensors.ts";

const RUN_TOKENIZER_FILE = "tokenizer.json";

/** Not files: a byte-level model ("bytes") or none. */
const NOT_A_FILE = new Set(["bytes", "none"]);

/**
 * The tokenizer as a checkpoint under `checkpointRoot` (<run dir>/checkpoints) should name it: copied into the run
 * directory when it is not there yet (or differs), then named by its file name relative to the run.
 */
export function runTokenizer(checkpointRoot: string, tokenizer: { file: string; sha256?: string }): { file: string; sha256?: string } {
  if (NOT_A_FILE.has(tokenizer.file) || !path.isAbsolute(tokenizer.file) || !existsSync(tokenizer.file)) return tokenizer;
  const runDir = path.dirname(path.resolve(checkpointRoot));
  const dest = path.join(runDir, RUN_TOKENIZER_FILE);
  const sha256 = tokenizer.sha256 ?? sha256File(tokenizer.file);
  if (path.resolve(tokenizer.file) !== dest && (!existsSync(dest) || sha256File(dest) !== sha256)) {
    const tmp = `${dest}.${process.pid}.tmp`;
    copyFileSync(tokenizer.file, tmp);
    renameSync(tmp, dest);
  }
  return { file: RUN_TOKENIZER_FILE, sha256 };
}
