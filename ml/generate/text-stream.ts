// Streaming text from tokens. A byte-level BPE token can end in the middle of a UTF-8 character, so
// the text of a token is only the difference between decodings of the whole sequence, and a trailing
// replacement character is held back until the next token completes it.
import type { TextTokenizer } from "../data/text-tokenizer.ts";

const REPLACEMENT = "\uFFFD";

export class TextStream {
  private readonly tokens: number[] = [];
  private emitted = 0; // characters of the decoded text already handed out

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Add a token; returns the text that became final (possibly ""). */
  push(token: number): string {
    this.tokens.push(token);
    let text = this.tokenizer.decode(this.tokens);
    while (text.endsWith(REPLACEMENT)) text = text.slice(0, -1);
    if (text.length <= this.emitted) return "";
    const out = text.slice(this.emitted);
    this.emitted = text.length;
    return out;
  }

  /** Whatever is left, incomplete characters included. */
  flush(): string {
    const text = this.tokenizer.decode(this.tokens);
    const out = text.slice(this.emitted);
    this.emitted = text.length;
    return out;
  }
}
