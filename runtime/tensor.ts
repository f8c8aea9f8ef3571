// A typed n-d array as it travels on the wire: dtype, shape, and the element bytes.

export const DTYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
} as const;

export type DType = keyof typeof DTYPES;
export type TensorData = InstanceType<(typeof DTYPES)[DType]>;

export class Tensor {
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: TensorData,
  ) {
    if (!(dtype in DTYPES)) throw new TypeError(`unknown dtype '${dtype}'`);
    if (!(data instanceof DTYPES[dtype])) throw new TypeError(`tensor data is not a ${DTYPES[dtype].name}`);
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad tensor dimension ${d} in shape [${shape.join(", ")}]`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new RangeError(`shape [${shape.join(", ")}] holds ${size} elements but data has ${data.length}`);
    }
  }

  get size(): number {
    return this.data.length;
  }
}
