// Reuse of received frame buffers. Every collective receives into fresh buffers (the frame reader cannot know the
// destination), and at hundreds of MB per training step those allocations cost page faults and, as external
// memory, frequent full garbage collections. A collective hands back the buffers it has finished with; the
// reader takes the next ones of the same size from here. Bounded, so an idle pool holds little.

export class FramePool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private heldBytes = 0;

  constructor(private readonly maxBytes = 32 << 20) {}

  /** A buffer of exactly `bytes` bytes (contents undefined). */
  take(bytes: number): Uint8Array {
    const buffer = this.free.get(bytes)?.pop();
    if (!buffer) return Buffer.allocUnsafeSlow(bytes); // its own ArrayBuffer, not zero-filled
    this.heldBytes -= bytes;
    return new Uint8Array(buffer);
  }

  /**
   * Hands back the buffer under `data`, which the caller must not use afterwards; kept only if `data` spans a whole
   * buffer of this pool's kind (a received frame) and the pool has room.
   */
  give(data: Float32Array): void {
    const buffer = data.buffer;
    if (!(buffer instanceof ArrayBuffer) || data.byteOffset !== 0 || data.byteLength !== buffer.byteLength || buffer.byteLength === 0)
      return;
    if (this.heldBytes + buffer.byteLength > this.maxBytes) return;
    const list = this.free.get(buffer.byteLength) ?? [];
    if (list.includes(buffer)) return; // given twice: keep one
    list.push(buffer);
    this.free.set(buffer.byteLength, list);
    this.heldBytes += buffer.byteLength;
  }
}
