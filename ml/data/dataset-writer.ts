// Streams documents into NAME.bin / NAME.idx. Both are written under temporary names and renamed
// when whole, index last, so a crash never leaves a dataset that looks complete.
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { encodeIdxHeader } from "./dataset-format.ts";
import { DataOptionError } from "./errors.ts";
import type { TokenDtype } from "./types.ts";

export class IndexedDatasetWriter {
  readonly binPath: string;
  readonly idxPath: string;
  private readonly fd: number;
  private readonly offsets: number[] = [0];
  private readonly maxId: number;
  private finished = false;

  /** `prefix` "dir/train" writes dir/train.bin and dir/train.idx. */
  constructor(
    prefix: string,
    readonly dtype: TokenDtype,
  ) {
    this.binPath = `${prefix}.bin`;
    this.idxPath = `${prefix}.idx`;
    this.maxId = dtype === "uint16" ? 0xffff : 0xffffffff;
    this.fd = openSync(this.tmp(this.binPath), "w");
  }

  get tokenCount(): number {
    return this.offsets[this.offsets.length - 1]!;
  }

  addDocument(tokens: ArrayLike<number>): void {
    if (this.finished) throw new Error(`${this.idxPath}: addDocument after finish`);
    const data = this.dtype === "uint16" ? new Uint16Array(tokens.length) : new Uint32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t > this.maxId) {
        throw new DataOptionError(`token ${t} at position ${i} does not fit the dataset dtype ${this.dtype}`);
      }
      data[i] = t;
    }
    writeSync(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.offsets.push(this.tokenCount + tokens.length);
  }

  /** Closes the files and moves them into place. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    closeSync(this.fd);
    const documentCount = this.offsets.length - 1;
    const header = encodeIdxHeader({ dtype: this.dtype, documentCount, tokenCount: this.tokenCount });
    const offsets = new BigUint64Array(this.offsets.map(BigInt));
    const fd = openSync(this.tmp(this.idxPath), "w");
    writeSync(fd, header);
    writeSync(fd, new Uint8Array(offsets.buffer));
    closeSync(fd);
    renameSync(this.tmp(this.binPath), this.binPath);
    renameSync(this.tmp(this.idxPath), this.idxPath);
  }

  /** Closes and deletes the partial files. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    closeSync(this.fd);
    rmSync(this.tmp(this.binPath), { force: true });
  }

  private tmp(path: string): string {
    return `${path}.tmp-${process.pid}`;
  }
}

/** Writes a whole dataset in one call. Example: writeIndexedDataset("out/train", "uint16", [[5, 6], [7]]). */
export function writeIndexedDataset(prefix: string, dtype: TokenDtype, documents: Iterable<ArrayLike<number>>): void {
  const writer = new IndexedDatasetWriter(prefix, dtype);
  try {
    for (const doc of documents) writer.addDocument(doc);
    writer.finish();
  } catch (err) {
    writer.abort();
    throw err;
  }
}
