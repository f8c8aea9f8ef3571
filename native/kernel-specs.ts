// Kernel signatures and size rules, shared by every backend: the op layer validates a call here once,
// so a bad call raises the same TypeError/RangeError (naming the argument) on the native and reference backends.
// The signature strings are identical to the addon's (native/src/kernels_registry.cc); a test checks that.

export type KernelName =
  | "gemm"
  | "linearForward"
  | "linearBackward"
  | "embeddingForward"
  | "embeddingBackward"
  | "layerNormForward"
  | "layerNormBackward"
  | "geluForward"
  | "geluBackward"
  | "attentionForward"
  | "attentionBackward"
  | "attentionDecode"
  | "ceRowMax"
  | "ceRowSumExp"
  | "ceTargetLogit"
  | "ceBackward"
  | "crossEntropyFused"
  | "adamw"
  | "sumSquares"
  | "fill"
  | "initNormal";

type Ints = Record<string, number>;

interface KernelSpec {
  signature: string;
  /** Minimum element count of each array argument, from the integer arguments. */
  needs(p: Ints): Record<string, [number, string]>;
  /** Extra checks; returns an error message naming the argument, or undefined. */
  extra?(p: Ints, arrays: Record<string, Float32Array | Int32Array | null>): string | undefined;
}

function tokensIn(name: string, tokens: Int32Array | Float32Array | null, count: number, limit: number): string | undefined {
  if (!tokens) return undefined;
  for (let i = 0; i < count; i++) {
    const t = tokens[i]!;
    if (t < 0 || t >= limit) return `'${name}' has value ${t} at index ${i}, outside [0, ${limit})`;
  }
  return undefined;
}

const attnNeeds = (p: Ints): Record<string, [number, string]> => ({
  qkv: [p.batch! * p.seq! * 3 * p.heads! * p.headDim!, "batch*seq*3*heads*headDim"],
  out: [p.batch! * p.seq! * p.heads! * p.headDim!, "batch*seq*heads*headDim"],
  dout: [p.batch! * p.seq! * p.heads! * p.headDim!, "batch*seq*heads*headDim"],
  probs: [p.batch! * p.heads! * p.seq! * p.seq!, "batch*heads*seq*seq"],
  dqkv: [p.batch! * p.seq! * 3 * p.heads! * p.headDim!, "batch*seq*3*heads*headDim"],
});

export const kernelSpecs: Record<KernelName, KernelSpec> = {
  gemm: {
    signature: "transA:int transB:int m:int n:int k:int alpha:num a:f32 b:f32 beta:num c:f32",
    needs: (p) => ({ a: [p.m! * p.k!, "m*k"], b: [p.k! * p.n!, "k*n"], c: [p.m! * p.n!, "m*n"] }),
  },
  linearForward: {
    signature: "x:f32 weight:f32 bias:f32? residual:f32? out:f32 rows:int inFeatures:int outFeatures:int",
    needs: (p) => ({
      x: [p.rows! * p.inFeatures!, "rows*inFeatures"],
      weight: [p.outFeatures! * p.inFeatures!, "outFeatures*inFeatures"],
      bias: [p.outFeatures!, "outFeatures"],
      residual: [p.rows! * p.outFeatures!, "rows*outFeatures"],
      out: [p.rows! * p.outFeatures!, "rows*outFeatures"],
    }),
  },
  linearBackward: {
    signature:
      "dout:f32 x:f32 weight:f32 dx:f32? dweight:f32 dbias:f32? rows:int inFeatures:int outFeatures:int accumulateDx:int",
    needs: (p) => ({
      dout: [p.rows! * p.outFeatures!, "rows*outFeatures"],
      x: [p.rows! * p.inFeatures!, "rows*inFeatures"],
      weight: [p.outFeatures! * p.inFeatures!, "outFeatures*inFeatures"],
      dx: [p.rows! * p.inFeatures!, "rows*inFeatures"],
      dweight: [p.outFeatures! * p.inFeatures!, "outFeatures*inFeatures"],
      dbias: [p.outFeatures!, "outFeatures"],
    }),
  },
  embeddingForward: {
    signature:
      "tokens:i32 wte:f32 wpe:f32? out:f32 batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
    needs: (p) => ({
      tokens: [p.batch! * p.seq!, "batch*seq"],
      wte: [p.vocabSize! * p.dModel!, "vocabSize*dModel"],
      wpe: [p.seq! * p.dModel!, "seq*dModel"],
      out: [p.batch! * p.seq! * p.dModel!, "batch*seq*dModel"],
    }),
    extra: (p, a) =>
      p.vocabStart! + p.vocabSize! > p.vocabTotal!
        ? "'vocabSize' exceeds vocabTotal - vocabStart"
        : tokensIn("tokens", a.tokens!, p.batch! * p.seq!, p.vocabTotal!),
  },
  embeddingBackward: {
    signature:
      "tokens:i32 dout:f32 dwte:f32 dwpe:f32? batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
    needs: (p) => ({
      tokens: [p.batch! * p.seq!, "batch*seq"],
      dout: [p.batch! * p.seq! * p.dModel!, "batch*seq*dModel"],
      dwte: [p.vocabSize! * p.dModel!, "vocabSize*dModel"],
      dwpe: [p.seq! * p.dModel!, "seq*dModel"],
    }),
    extra: (p, a) =>
      p.vocabStart! + p.vocabSize! > p.vocabTotal!
        ? "'vocabSize' exceeds vocabTotal - vocabStart"
        : tokensIn("tokens", a.tokens!, p.batch! * p.seq!, p.vocabTotal!),
  },
  layerNormForward: {
    signature: "x:f32 gamma:f32 beta:f32 out:f32 mean:f32 rstd:f32 rows:int cols:int",
    needs: (p) => ({
      x: [p.rows! * p.cols!, "rows*cols"],
      gamma: [p.cols!, "cols"],
      beta: [p.cols!, "cols"],
      out: [p.rows! * p.cols!, "rows*cols"],
      mean: [p.rows!, "rows"],
      rstd: [p.rows!, "rows"],
    }),
    extra: (p) => (p.cols! > 0 ? undefined : "'cols' must be positive"),
  },
  layerNormBackward: {
    signature:
      "dout:f32 x:f32 gamma:f32 mean:f32 rstd:f32 dx:f32 dgamma:f32 dbeta:f32 rows:int cols:int accumulateDx:int",
    needs: (p) => ({
      dout: [p.rows! * p.cols!, "rows*cols"],
      x: [p.rows! * p.cols!, "rows*cols"],
      gamma: [p.cols!, "cols"],
      mean: [p.rows!, "rows"],
      rstd: [p.rows!, "rows"],
      dx: [p.rows! * p.cols!, "rows*cols"],
      dgamma: [p.cols!, "cols"],
      dbeta: [p.cols!, "cols"],
    }),
    extra: (p) => (p.cols! > 0 ? undefined : "'cols' must be positive"),
  },
  geluForward: {
    signature: "x:f32 out:f32 n:int",
    needs: (p) => ({ x: [p.n!, "n"], out: [p.n!, "n"] }),
  },
  geluBackward: {
    signature: "x:f32 dout:f32 dx:f32 n:int",
    needs: (p) => ({ x: [p.n!, "n"], dout: [p.n!, "n"], dx: [p.n!, "n"] }),
  },
  attentionForward: {
    signature: "qkv:f32 out:f32 probs:f32 batch:int seq:int heads:int headDim:int",
    needs: attnNeeds,
    extra: (p) => positive(p, ["batch", "seq", "heads", "headDim"]),
  },
  attentionBackward: {
    signature: "qkv:f32 probs:f32 dout:f32 dqkv:f32 batch:int seq:int heads:int headDim:int",
    needs: attnNeeds,
    extra: (p) => positive(p, ["batch", "seq", "heads", "headDim"]),
  },
  attentionDecode: {
    signature: "qkv:f32 kCache:f32 vCache:f32 out:f32 batch:int heads:int headDim:int maxLen:int pos:int",
    needs: (p) => ({
      qkv: [p.batch! * 3 * p.heads! * p.headDim!, "batch*3*heads*headDim"],
      kCache: [p.batch! * p.maxLen! * p.heads! * p.headDim!, "batch*maxLen*heads*headDim"],
      vCache: [p.batch! * p.maxLen! * p.heads! * p.headDim!, "batch*maxLen*heads*headDim"],
      out: [p.batch! * p.heads! * p.headDim!, "batch*heads*headDim"],
    }),
    extra: (p) =>
      positive(p, ["batch", "heads", "headDim", "maxLen"]) ??
      (p.pos! >= p.maxLen! ? "'pos' must be below maxLen (the cache is full)" : undefined),
  },
  ceRowMax: {
    signature: "logits:f32 rowMax:f32 rows:int cols:int",
    needs: (p) => ({ logits: [p.rows! * p.cols!, "rows*cols"], rowMax: [p.rows!, "rows"] }),
    extra: (p) => positive(p, ["cols"]),
  },
  ceRowSumExp: {
    signature: "logits:f32 rowMax:f32 sumExp:f32 rows:int cols:int",
    needs: (p) => ({ logits: [p.rows! * p.cols!, "rows*cols"], rowMax: [p.rows!, "rows"], sumExp: [p.rows!, "rows"] }),
  },
  ceTargetLogit: {
    signature: "logits:f32 targets:i32 out:f32 rows:int cols:int vocabStart:int",
    needs: (p) => ({ logits: [p.rows! * p.cols!, "rows*cols"], targets: [p.rows!, "rows"], out: [p.rows!, "rows"] }),
  },
  ceBackward: {
    signature: "logits:f32 rowMax:f32 sumExp:f32 targets:i32 dlogits:f32 rows:int cols:int vocabStart:int scale:num",
    needs: (p) => ({
      logits: [p.rows! * p.cols!, "rows*cols"],
      rowMax: [p.rows!, "rows"],
      sumExp: [p.rows!, "rows"],
      targets: [p.rows!, "rows"],
      dlogits: [p.rows! * p.cols!, "rows*cols"],
    }),
  },
  crossEntropyFused: {
    signature: "logits:f32 targets:i32 losses:f32 rows:int cols:int scale:num",
    needs: (p) => ({ logits: [p.rows! * p.cols!, "rows*cols"], targets: [p.rows!, "rows"], losses: [p.rows!, "rows"] }),
    extra: (p, a) => tokensIn("targets", a.targets!, p.rows!, p.cols!),
  },
  adamw: {
    signature:
      "param:f32 grad:f32 expAvg:f32 expAvgSq:f32 n:int lr:num beta1:num beta2:num eps:num weightDecay:num gradScale:num step:int",
    needs: (p) => ({ param: [p.n!, "n"], grad: [p.n!, "n"], expAvg: [p.n!, "n"], expAvgSq: [p.n!, "n"] }),
    extra: (p) => positive(p, ["step"]),
  },
  sumSquares: {
    signature: "x:f32 n:int",
    needs: (p) => ({ x: [p.n!, "n"] }),
  },
  fill: {
    signature: "x:f32 n:int value:num",
    needs: (p) => ({ x: [p.n!, "n"] }),
  },
  initNormal: {
    signature: "x:f32 n:int std:num key:num",
    needs: (p) => ({ x: [p.n!, "n"] }),
  },
};

function positive(p: Ints, names: string[]): string | undefined {
  for (const n of names) if (!(p[n]! > 0)) return `'${n}' must be positive, got ${p[n]}`;
  return undefined;
}

export interface ParsedParam {
  name: string;
  kind: "f32" | "f32?" | "i32" | "int" | "num";
}

export function parseSignature(signature: string): ParsedParam[] {
  return signature.split(" ").map((token) => {
    const [name, kind] = token.split(":") as [string, ParsedParam["kind"]];
    return { name, kind };
  });
}
