// Wire codec: msgpack (plain maps, no records, so any msgpack reader can decode it) with a tensor
// extension. Decoding a tensor is zero-copy when its bytes are aligned for the dtype, a copy otherwise.
import { Packr, addExtension } from "msgpackr";
import { CodecError } from "./errors.ts";
import { DTYPES, Tensor, type DType } from "./tensor.ts";

/** msgpack extension type for tensors (1–100 are free for applications). */
const TENSOR_EXTENSION_TYPE = 42;

type TensorWire = [DType, number[], Uint8Array];

function readTensor(wire: unknown): Tensor {
  if (!Array.isArray(wire) || wire.length !== 3) throw new CodecError("tensor extension payload is not [dtype, shape, bytes]");
  const [dtype, shape, bytes] = wire as TensorWire;
  if (typeof dtype !== "string" || !(dtype in DTYPES)) throw new CodecError(`tensor has unknown dtype '${String(dtype)}'`);
  if (!Array.isArray(shape) || !(bytes instanceof Uint8Array)) throw new CodecError("tensor shape or bytes malformed");
  const Ctor = DTYPES[dtype];
  const width = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % width !== 0) throw new CodecError(`tensor byte length ${bytes.byteLength} is not a multiple of ${width}`);
  const length = bytes.byteLength / width;
  const aligned = bytes.byteOffset % width === 0;
  const data = aligned
    ? new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, length)
    : new Ctor(copyBytes(bytes).buffer as ArrayBuffer, 0, length);
  try {
    return new Tensor(dtype, shape, data);
  } catch (err) {
    throw new CodecError(`tensor malformed: ${(err as Error).message}`, { cause: err });
  }
}

// Buffer#slice is a view, not a copy: copy explicitly into a fresh (aligned) buffer.
function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

addExtension({
  Class: Tensor,
  type: TENSOR_EXTENSION_TYPE,
  write(t: Tensor): TensorWire {
    return [t.dtype, [...t.shape], new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)];
  },
  read: readTensor,
});

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encode(value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch (err) {
    throw new CodecError(`cannot encode message: ${(err as Error).message}`, { cause: err });
  }
}

/** Decodes one msgpack value; any malformed input becomes a CodecError (never another exception). */
export function decode(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw new CodecError("empty message");
  try {
    return packr.unpack(bytes);
  } catch (err) {
    if (err instanceof CodecError) throw err;
    throw new CodecError(`malformed message: ${(err as Error).message}`, { cause: err });
  }
}
