import { FrameFormatError } from "./errors.ts";
// Wire format between two ranks: [u32 tag bytes][u32 payload bytes][tag utf-8][payload: fp32 little-endian].
// The reader copies each payload straight into a fresh, aligned Float32Array (no concatenation of chunks, no zero fill).

export interface Frame {
  tag: string;
  data: Float32Array;
}

const HEADER = 8;

export function encodeHeader(tag: string, payloadBytes: number): Buffer {
  const tagBytes = Buffer.from(tag, "utf8");
  const header = Buffer.allocUnsafe(HEADER + tagBytes.length);
  header.writeUInt32LE(tagBytes.length, 0);
  header.writeUInt32LE(payloadBytes, 4);
  tagBytes.copy(header, HEADER);
  return header;
}

export function payloadOf(data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Incremental parser: push socket chunks, get whole frames. */
export class FrameReader {
  private head = Buffer.alloc(0);
  private tag: string | undefined;
  private payload: Uint8Array | undefined;
  private filled = 0;
  private tagLength = -1;
  private payloadBytes = 0;

  constructor(
    private readonly maxPayloadBytes = 1 << 30,
    /** where payload buffers come from (a FramePool's take); default: a fresh buffer each, not zero-filled */
    private readonly alloc: (bytes: number) => Uint8Array = (bytes) => Buffer.allocUnsafeSlow(bytes),
  ) {}

  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let offset = 0;
    for (;;) {
      if (this.payload === undefined) {
        // header, then tag: small, gathered into `head`
        const need = this.tagLength < 0 ? HEADER : this.tagLength;
        const take = Math.min(need - this.head.length, chunk.length - offset);
        if (take > 0) this.head = Buffer.concat([this.head, chunk.subarray(offset, offset + take)]);
        offset += take;
        if (this.head.length < need) return;
        if (this.tagLength < 0) {
          this.tagLength = this.head.readUInt32LE(0);
          this.payloadBytes = this.head.readUInt32LE(4);
          if (this.payloadBytes % 4 !== 0 || this.payloadBytes > this.maxPayloadBytes || this.tagLength > 4096) {
            throw new FrameFormatError(`bad frame header (tag ${this.tagLength} B, payload ${this.payloadBytes} B)`);
          }
          this.head = Buffer.alloc(0);
          continue;
        }
        this.tag = this.head.toString("utf8");
        this.head = Buffer.alloc(0);
        this.payload = this.alloc(this.payloadBytes); // every byte is written below
        this.filled = 0;
      }
      const take = Math.min(this.payloadBytes - this.filled, chunk.length - offset);
      if (take > 0) this.payload.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled < this.payloadBytes) return;
      const frame = { tag: this.tag!, data: new Float32Array(this.payload.buffer, this.payload.byteOffset, this.payloadBytes / 4) };
      this.payload = undefined;
      this.tag = undefined;
      this.tagLength = -1;
      onFrame(frame);
      if (offset === chunk.length) return;
    }
  }
}
