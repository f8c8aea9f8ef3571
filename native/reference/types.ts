/** Reference kernels run on float32 or float64 arrays (float64 for finite-difference checks). */
export type FloatArray = Float32Array | Float64Array;
export type IntArray = Int32Array;
