// A checkpoint (of any layout) as a Hugging Face GPT-2 model folder: config.json, model.safetensors with GPT-2's
// tensor names and layouts, and the tokenizer files, so `GPT2LMHeadModel.from_pretrained(dir)` and
// `AutoTokenizer.from_pretrained(dir)` load it.
//
// Names and layouts: troupe keeps linear weights as [out, in] (nn.Linear); GPT-2's Conv1D keeps [in, out], so
// every attention and MLP weight is transposed. Worked example, d 8, 1 layer:
//   h.0.attn.qkv.weight [24, 8]  → transformer.h.0.attn.c_attn.weight [8, 24]   (columns: q | k | v, heads inside)
//   h.0.mlp.fc.weight  [32, 8]   → transformer.h.0.mlp.c_fc.weight   [8, 32]
//   wte [V, 8] → transformer.wte.weight [V, 8] (no lm_head.weight: GPT-2 ties it to wte)
// The arithmetic is the same as GPT-2's: pre-LayerNorm blocks with eps 1e-5, GELU with the tanh approximation
// ("gelu_new"), learned positions, a tied head.
import { HfExportError } from "./errors.ts";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseTokenizerJson } from "../data/tokenizer-json.ts";
import type { GptConfig } from "../model/types.ts";
import type { TensorEntry } from "./safetensors.ts";
import { writeSafetensors } from "./safetensors.ts";

/** [rows, cols] row-major → [cols, rows]. */
function transpose(t: TensorEntry, name: string): TensorEntry {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  return { name, shape: [cols, rows], data: out };
}

/** troupe's parameter name → GPT-2's, and whether the weight is transposed (Conv1D). */
export function hfNameOf(name: string): { name: string; transpose: boolean } {
  if (name === "wte") return { name: "transformer.wte.weight", transpose: false };
  if (name === "wpe") return { name: "transformer.wpe.weight", transpose: false };
  if (name === "lnf.weight" || name === "lnf.bias") return { name: `transformer.ln_f.${name.slice(4)}`, transpose: false };
  const m = /^h\.(\d+)\.(ln1|ln2|attn\.qkv|attn\.proj|mlp\.fc|mlp\.proj)\.(weight|bias)$/.exec(name);
  if (!m) throw new HfExportError(`no GPT-2 name for parameter '${name}'`);
  const part = {
    ln1: "ln_1",
    ln2: "ln_2",
    "attn.qkv": "attn.c_attn",
    "attn.proj": "attn.c_proj",
    "mlp.fc": "mlp.c_fc",
    "mlp.proj": "mlp.c_proj",
  }[m[2]!]!;
  return { name: `transformer.h.${m[1]}.${part}.${m[3]}`, transpose: m[3] === "weight" && !part.startsWith("ln_") };
}

/** Every parameter under its GPT-2 name and layout, in troupe's parameter order. */
function hfTensors(params: ReadonlyMap<string, TensorEntry>): TensorEntry[] {
  return [...params.values()].map((t) => {
    const hf = hfNameOf(t.name);
    return hf.transpose ? transpose(t, hf.name) : { name: hf.name, shape: [...t.shape], data: t.data };
  });
}

function hfConfig(config: GptConfig, endOfText: number | undefined): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    vocab_size: config.vocabSize,
    n_positions: config.seqLen,
    n_ctx: config.seqLen,
    n_embd: config.dModel,
    n_layer: config.layers,
    n_head: config.heads,
    n_inner: null,
    activation_function: "gelu_new",
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    ...(endOfText !== undefined ? { bos_token_id: endOfText, eos_token_id: endOfText } : {}),
    torch_dtype: "float32",
  };
}

/**
 * The tokenizer files for a byte-level BPE tokenizer.json: the file itself (fast tokenizers), vocab.json and
 * merges.txt (GPT2Tokenizer), and tokenizer_config.json / special_tokens_map.json naming the end-of-text token.
 */
function hfTokenizerFiles(tokenizerJson: string, seqLen: number): Map<string, string> {
  const text = readFileSync(tokenizerJson, "utf8");
  const { model, special } = parseTokenizerJson(JSON.parse(text));
  const vocab: Record<string, number> = {};
  model.tokens.forEach((t, id) => (vocab[t] = id));
  for (const s of special) vocab[s.content] = s.id;
  const merges = ["#version: 0.2", ...model.merges.map(([a, b]) => `${model.tokens[a]} ${model.tokens[b]}`)].join("\n") + "\n";
  const eot = special[0]?.content;
  const specials = eot ? { bos_token: eot, eos_token: eot, unk_token: eot } : {};
  return new Map([
    ["tokenizer.json", text],
    ["vocab.json", JSON.stringify(vocab)],
    ["merges.txt", merges],
    [
      "tokenizer_config.json",
      JSON.stringify({ tokenizer_class: "GPT2Tokenizer", model_max_length: seqLen, add_prefix_space: false, ...specials }, null, 2) + "\n",
    ],
    ["special_tokens_map.json", JSON.stringify(specials, null, 2) + "\n"],
  ]);
}

export interface HfExportInput {
  config: GptConfig;
  params: ReadonlyMap<string, TensorEntry>;
  /** A byte-level BPE tokenizer.json; absent for models trained on bytes (no tokenizer files are written). */
  tokenizerFile?: string;
  endOfText?: number;
  /** Where the checkpoint came from, recorded in the safetensors metadata. */
  source: string;
}

/**
 * Writes the model folder `out` (which must not exist or be empty): into a sibling temporary folder first, renamed
 * when whole, so a failed export leaves nothing half-written. Returns the files written.
 */
export function writeHfExport(out: string, input: HfExportInput): string[] {
  if (existsSync(out) && readdirSync(out).length > 0) throw new HfExportError(`${out} exists and is not empty: choose a new folder`);
  const tmp = `${out.replace(/[/\\]+$/, "")}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(path.join(tmp, "config.json"), JSON.stringify(hfConfig(input.config, input.endOfText), null, 2) + "\n");
    writeSafetensors(path.join(tmp, "model.safetensors"), hfTensors(input.params), { format: "pt", source: input.source });
    if (input.tokenizerFile) {
      for (const [name, text] of hfTokenizerFiles(input.tokenizerFile, input.config.seqLen)) {
        if (name === "tokenizer.json") copyFileSync(input.tokenizerFile, path.join(tmp, name));
        else writeFileSync(path.join(tmp, name), text);
      }
    }
    if (existsSync(out)) rmSync(out, { recursive: true });
    mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return readdirSync(out).sort();
}
