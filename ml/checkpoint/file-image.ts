// The blocking half of an asynchronous checkpoint: the whole safetensors file (header + tensor bytes) copied
// into one buffer, after which training may change the tensors. The bytes are those writeSafetensors writes.
import { encodeHeader, type TensorEntry } from "./safetensors.ts";

/**
 * The file's bytes in a buffer of its own. `reuse` (the image of an earlier checkpoint of the same size) is
 * overwritten instead of allocating: copying into memory already mapped is several times faster than into fresh
 * pages, which the kernel must fault in and zero first.
 */
export function safetensorsImage(tensors: readonly TensorEntry[], metadata: Record<string, string> = {}, reuse?: ArrayBuffer): Buffer {
  const head = encodeHeader(tensors, metadata);
  const total = tensors.reduce((n, t) => n + t.data.byteLength, head.length);
  const image = Buffer.from(reuse && reuse.byteLength === total ? reuse : new ArrayBuffer(total));
  head.copy(image, 0);
  let at = head.length;
  for (const t of tensors) {
    image.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return image;
}
