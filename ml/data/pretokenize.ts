// GPT-2's pre-tokenizer regex (the one Hugging Face's ByteLevel pre-tokenizer uses with use_regex: true):
// contractions, optional-space + letters, optional-space + digits, optional-space + other symbols,
// and whitespace runs (a run before a word leaves its last space to that word).
//
// `\s` is spelled out as Unicode White_Space, which is what Hugging Face's regex engine (Oniguruma)
// means by it; JavaScript's `\s` differs on U+0085 (not space in JS) and U+FEFF (space in JS only).
const WS = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/** Source of the split regex (use with flags "gu"); a string, so no shared RegExp carries lastIndex state. */
export const GPT2_SPLIT_PATTERN = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`;

/** The pieces of `text` in order; their concatenation is `text`. */
export function pretokenize(text: string): string[] {
  return text.match(new RegExp(GPT2_SPLIT_PATTERN, "gu")) ?? [];
}
