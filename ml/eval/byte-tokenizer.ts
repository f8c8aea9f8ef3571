// The simplest complete tokenizer: one token per UTF-8 byte (ids 0-255) and an end-of-text token 256.
// It needs no training, so a model with vocabulary ≥ 257 can be evaluated or benchmarked without a
// trained BPE; checkpoints normally carry their own tokenizer.json.
import type { TextTokenizer } from "./types.ts";

export class ByteTokenizer implements TextTokenizer {
  readonly endOfText = 256;
  readonly vocabSize = 257;
  private readonly decoder = new TextDecoder("utf-8");
  private readonly encoder = new TextEncoder();

  encode(text: string): Int32Array {
    return Int32Array.from(this.encoder.encode(text));
  }

  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id > 256) throw new RangeError(`token ${id} is not a byte-tokenizer id (0-256)`);
      if (id !== this.endOfText) bytes[n++] = id;
    }
    return this.decoder.decode(bytes.subarray(0, n));
  }
}
