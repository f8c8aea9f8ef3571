// The shape every tokenizer of troupe has: text to token ids and back.

/** Turns text into token ids and back (the data engineer's BPE tokenizer fits this shape). */
export interface TextTokenizer {
  encode(text: string): ArrayLike<number>;
  decode(ids: ArrayLike<number>): string;
}
