// A writable stream that calls `onLine` for each complete line (the last partial line at end).
import { Writable } from "node:stream";

export class LineSplitter extends Writable {
  private rest = "";

  constructor(private readonly onLine: (line: string) => void) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const text = this.rest + chunk.toString("utf8");
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    for (const l of lines) this.onLine(l);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.rest) this.onLine(this.rest);
    this.rest = "";
    done();
  }
}
