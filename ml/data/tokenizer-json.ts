// The Hugging Face `tokenizer.json` format for a byte-level BPE tokenizer: model type BPE (vocab +
// merges), ByteLevel pre-tokenizer and decoder, special tokens under added_tokens.
import type { BpeModel } from "./bpe-train.ts";

export interface SpecialToken {
  content: string;
  id: number;
}

/** What a byte-level BPE tokenizer exposes to be written as tokenizer.json. */
export interface SerializableBpe {
  readonly tokens: readonly string[];
  readonly merges: ReadonlyArray<readonly [number, number]>;
  readonly specialTokens: ReadonlyMap<string, number>;
}

export function tokenizerToJson(t: SerializableBpe): object {
  // Special tokens are in the vocabulary too (as GPT-2's file has it), so every loader agrees on their ids.
  const vocab: Record<string, number> = {};
  t.tokens.forEach((token, id) => {
    vocab[token] = id;
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...t.specialTokens].map(([content, id]) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: t.merges.map(([a, b]) => `${t.tokens[a]} ${t.tokens[b]}`),
    },
  };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses a tokenizer.json document into a BPE model and its special tokens. Throws an Error naming
 * the first field that is not a byte-level BPE tokenizer. Merges may be "a b" strings or [a, b] pairs.
 */
export function parseTokenizerJson(doc: unknown): { model: BpeModel; special: SpecialToken[] } {
  if (!isObject(doc)) throw new Error("tokenizer.json must be a JSON object");
  const model = doc.model;
  if (!isObject(model) || model.type !== "BPE")
    throw new Error(`model.type must be "BPE", got ${JSON.stringify(isObject(model) ? model.type : model)}`);
  const pre = doc.pre_tokenizer;
  if (!isObject(pre) || pre.type !== "ByteLevel") {
    throw new Error(`pre_tokenizer must be ByteLevel, got ${JSON.stringify(isObject(pre) ? pre.type : pre)}`);
  }
  if (pre.add_prefix_space === true) throw new Error("pre_tokenizer.add_prefix_space true is not supported");
  if (!isObject(model.vocab)) throw new Error("model.vocab must be an object of token → id");
  if (!Array.isArray(model.merges)) throw new Error("model.merges must be an array");

  const tokens: string[] = [];
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0)
      throw new Error(`model.vocab["${token}"] must be a non-negative integer id, got ${JSON.stringify(id)}`);
    if (tokens[id as number] !== undefined)
      throw new Error(`model.vocab id ${id} is used by both "${tokens[id as number]}" and "${token}"`);
    tokens[id as number] = token;
  }
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => ids.set(t, i));
  const merges: Array<[number, number]> = model.merges.map((m: unknown, rank: number) => {
    const pair = typeof m === "string" ? m.split(" ") : m;
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new Error(`model.merges[${rank}] must be "a b" or [a, b], got ${JSON.stringify(m)}`);
    const a = ids.get(pair[0]);
    const b = ids.get(pair[1]);
    if (a === undefined || b === undefined) throw new Error(`model.merges[${rank}] uses a token not in model.vocab: ${JSON.stringify(m)}`);
    return [a, b];
  });

  const added = doc.added_tokens ?? [];
  if (!Array.isArray(added)) throw new Error("added_tokens must be an array");
  const special: SpecialToken[] = added.map((t: unknown, i: number) => {
    if (!isObject(t) || typeof t.content !== "string" || !Number.isInteger(t.id)) {
      throw new Error(`added_tokens[${i}] must have a string content and an integer id`);
    }
    return { content: t.content, id: t.id as number };
  });
  const eot = special.findIndex((s) => s.content === "<|endoftext|>");
  if (eot > 0) special.unshift(...special.splice(eot, 1));
  return { model: { tokens, merges }, special };
}
