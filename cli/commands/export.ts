// `troupe export --hf CHECKPOINT OUT`: a checkpoint of any layout as a Hugging Face GPT-2 folder (config.json,
// model.safetensors, tokenizer files) that `transformers` loads as GPT2LMHeadModel.
import path from "node:path";
import type { Command } from "commander";
import { summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";

export function register(program: Command): void {
  program
    .command("export")
    .description(summaryOf("export"))
    .argument("<checkpoint>", "checkpoint step folder, or a checkpoint root / run directory (its latest checkpoint)")
    .argument("<out>", "folder to write (must not exist or be empty)")
    .option("--hf", "Hugging Face transformers GPT-2 format (the only format, and required)")
    .option("--tokenizer <file>", "tokenizer.json to ship instead of the one the checkpoint names")
    .addHelpText(
      "after",
      `
Writes config.json, model.safetensors (GPT-2 tensor names; Conv1D weights as [in, out]; the head tied to
transformer.wte) and the tokenizer files (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json,
special_tokens_map.json). Then, in Python:
  from transformers import GPT2LMHeadModel, AutoTokenizer
  model = GPT2LMHeadModel.from_pretrained("OUT"); tok = AutoTokenizer.from_pretrained("OUT")

Example:
  troupe export --hf runs/brown-tiny runs/brown-tiny-hf`,
    )
    .action(async (checkpoint: string, out: string, opts: { hf?: boolean; tokenizer?: string }) => {
      if (!opts.hf) throw new UsageError("name the format: --hf (Hugging Face transformers GPT-2)");
      const { loadCheckpointHeader, resolveTokenizerFile, BYTES_TOKENIZER } = await import("../../ml/eval/load-model.ts");
      const { loadCheckpointWeights } = await import("../../ml/eval/load-checkpoint.ts");
      const { writeHfExport } = await import("../../ml/checkpoint/hf-export.ts");
      const header = loadCheckpointHeader(checkpoint, opts.tokenizer ? { tokenizerFile: opts.tokenizer } : {});
      const named = opts.tokenizer ?? header.manifest.data.tokenizerFile;
      const tokenizerFile = named === BYTES_TOKENIZER ? undefined : path.resolve(opts.tokenizer ?? resolveTokenizerFile(named, header.dir));
      const weights = loadCheckpointWeights(header.dir);
      const files = writeHfExport(out, {
        config: header.config,
        params: weights.params,
        tokenizerFile,
        endOfText: header.endOfText,
        source: header.dir,
      });
      console.log(`exported ${header.dir} (step ${header.manifest.step}) to ${out}: ${files.join(", ")}`);
      if (!tokenizerFile) console.log("no tokenizer files: the model was trained on bytes (one token per byte)");
    });
}
