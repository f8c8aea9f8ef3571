// Kernel signatures and size rules, shared by every backend and by both languages: the op layer (native/ops.ts)
// interprets these rules for every call, and native/kernel-rules-cc.ts renders the same rules as the addon's C++
// checks (native/src/kernel_rules.gen.cc, checked in; a test regenerates it and compares). So a bad call raises
// the same TypeError/RangeError, naming the argument, on every backend, and the rules cannot drift apart.
//
// The rules are data, not code, so that they can be rendered: sizes are expressions over the integer arguments
// (sums, differences and products of argument names and integer literals, e.g. "batch*seq*3*heads").
// Checks run in this order, in both languages: positive, needs (in signature order), bounds, uint32, tokens.

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

/** `arg op limit` must hold; otherwise the error is "'arg' message". */
interface BoundRule {
  arg: string;
  op: "<" | "<=";
  limit: string;
  message: string;
}

/** The first `count` values of the i32 array `array` must lie in [0, limit). */
interface TokenRule {
  array: string;
  count: string;
  limit: string;
}

export interface KernelSpec {
  signature: string;
  /** Minimum element count of every array argument (an optional array is checked only when given). */
  needs: Record<string, string>;
  /** Integer arguments that must be above zero. */
  positive?: readonly string[];
  bounds?: readonly BoundRule[];
  /** Number arguments that must be integers in [0, 2³²). */
  uint32?: readonly string[];
  tokens?: TokenRule;
}

const attnSizes = {
  qkv: "batch*seq*3*heads*headDim",
  out: "batch*seq*heads*headDim",
  probs: "batch*heads*seq*seq",
};
const attnPositive = ["batch", "seq", "heads", "headDim"];
const vocabBound: BoundRule = { arg: "vocabSize", op: "<=", limit: "vocabTotal-vocabStart", message: "exceeds vocabTotal - vocabStart" };

export const kernelSpecs: Record<KernelName, KernelSpec> = {
  gemm: {
    signature: "transA:int transB:int m:int n:int k:int alpha:num a:f32 b:f32 beta:num c:f32",
    needs: { a: "m*k", b: "k*n", c: "m*n" },
  },
  linearForward: {
    signature: "x:f32 weight:f32 bias:f32? residual:f32? out:f32 rows:int inFeatures:int outFeatures:int",
    needs: {
      x: "rows*inFeatures",
      weight: "outFeatures*inFeatures",
      bias: "outFeatures",
      residual: "rows*outFeatures",
      out: "rows*outFeatures",
    },
  },
  linearBackward: {
    signature: "dout:f32 x:f32 weight:f32 dx:f32? dweight:f32 dbias:f32? rows:int inFeatures:int outFeatures:int accumulateDx:int",
    needs: {
      dout: "rows*outFeatures",
      x: "rows*inFeatures",
      weight: "outFeatures*inFeatures",
      dx: "rows*inFeatures",
      dweight: "outFeatures*inFeatures",
      dbias: "outFeatures",
    },
  },
  embeddingForward: {
    signature: "tokens:i32 wte:f32 wpe:f32? out:f32 batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
    needs: { tokens: "batch*seq", wte: "vocabSize*dModel", wpe: "seq*dModel", out: "batch*seq*dModel" },
    bounds: [vocabBound],
    tokens: { array: "tokens", count: "batch*seq", limit: "vocabTotal" },
  },
  embeddingBackward: {
    signature: "tokens:i32 dout:f32 dwte:f32 dwpe:f32? batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
    needs: { tokens: "batch*seq", dout: "batch*seq*dModel", dwte: "vocabSize*dModel", dwpe: "seq*dModel" },
    bounds: [vocabBound],
    tokens: { array: "tokens", count: "batch*seq", limit: "vocabTotal" },
  },
  layerNormForward: {
    signature: "x:f32 gamma:f32 beta:f32 out:f32 mean:f32 rstd:f32 rows:int cols:int",
    needs: { x: "rows*cols", gamma: "cols", beta: "cols", out: "rows*cols", mean: "rows", rstd: "rows" },
    positive: ["cols"],
  },
  layerNormBackward: {
    signature: "dout:f32 x:f32 gamma:f32 mean:f32 rstd:f32 dx:f32 dgamma:f32 dbeta:f32 rows:int cols:int accumulateDx:int",
    needs: {
      dout: "rows*cols",
      x: "rows*cols",
      gamma: "cols",
      mean: "rows",
      rstd: "rows",
      dx: "rows*cols",
      dgamma: "cols",
      dbeta: "cols",
    },
    positive: ["cols"],
  },
  geluForward: {
    signature: "x:f32 out:f32 n:int",
    needs: { x: "n", out: "n" },
  },
  geluBackward: {
    signature: "x:f32 dout:f32 dx:f32 n:int",
    needs: { x: "n", dout: "n", dx: "n" },
  },
  attentionForward: {
    signature: "qkv:f32 out:f32 probs:f32 batch:int seq:int heads:int headDim:int",
    needs: attnSizes,
    positive: attnPositive,
  },
  attentionBackward: {
    signature: "qkv:f32 probs:f32 dout:f32 dqkv:f32 batch:int seq:int heads:int headDim:int",
    needs: { qkv: attnSizes.qkv, probs: attnSizes.probs, dout: attnSizes.out, dqkv: attnSizes.qkv },
    positive: attnPositive,
  },
  attentionDecode: {
    signature: "qkv:f32 kCache:f32 vCache:f32 out:f32 batch:int heads:int headDim:int maxLen:int pos:int",
    needs: {
      qkv: "batch*3*heads*headDim",
      kCache: "batch*maxLen*heads*headDim",
      vCache: "batch*maxLen*heads*headDim",
      out: "batch*heads*headDim",
    },
    positive: ["batch", "heads", "headDim", "maxLen"],
    bounds: [{ arg: "pos", op: "<", limit: "maxLen", message: "must be below maxLen (the cache is full)" }],
  },
  ceRowMax: {
    signature: "logits:f32 rowMax:f32 rows:int cols:int",
    needs: { logits: "rows*cols", rowMax: "rows" },
    positive: ["cols"],
  },
  ceRowSumExp: {
    signature: "logits:f32 rowMax:f32 sumExp:f32 rows:int cols:int",
    needs: { logits: "rows*cols", rowMax: "rows", sumExp: "rows" },
  },
  ceTargetLogit: {
    signature: "logits:f32 targets:i32 out:f32 rows:int cols:int vocabStart:int",
    needs: { logits: "rows*cols", targets: "rows", out: "rows" },
  },
  ceBackward: {
    signature: "logits:f32 rowMax:f32 sumExp:f32 targets:i32 dlogits:f32 rows:int cols:int vocabStart:int scale:num",
    needs: { logits: "rows*cols", rowMax: "rows", sumExp: "rows", targets: "rows", dlogits: "rows*cols" },
  },
  crossEntropyFused: {
    signature: "logits:f32 targets:i32 losses:f32 rows:int cols:int scale:num",
    needs: { logits: "rows*cols", targets: "rows", losses: "rows" },
    tokens: { array: "targets", count: "rows", limit: "cols" },
  },
  adamw: {
    signature: "param:f32 grad:f32 expAvg:f32 expAvgSq:f32 n:int lr:num beta1:num beta2:num eps:num weightDecay:num gradScale:num step:int",
    needs: { param: "n", grad: "n", expAvg: "n", expAvgSq: "n" },
    positive: ["step"],
  },
  sumSquares: {
    signature: "x:f32 n:int",
    needs: { x: "n" },
  },
  fill: {
    signature: "x:f32 n:int value:num",
    needs: { x: "n" },
  },
  initNormal: {
    signature: "x:f32 n:int std:num key:num",
    needs: { x: "n" },
    uint32: ["key"],
  },
};

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

/** A size expression as a sum of signed products; each factor is an argument name or an integer literal. */
export interface SizeTerm {
  sign: 1 | -1;
  factors: (string | number)[];
}

/** Parses `expr` (no parentheses; * binds tighter than + and -). Throws on anything else. */
export function parseSizeExpr(expr: string): SizeTerm[] {
  if (!/^[A-Za-z0-9*+-]+$/.test(expr) || /^[*+]|[*+-]$|[*+-]{2}/.test(expr)) throw new SyntaxError(`bad size expression '${expr}'`);
  const terms: SizeTerm[] = [];
  for (const m of expr.matchAll(/([+-]?)([^+-]+)/g)) {
    const factors = m[2]!.split("*").map((f) => (/^[0-9]+$/.test(f) ? Number(f) : f));
    if (factors.some((f) => typeof f === "string" && !/^[A-Za-z][A-Za-z0-9]*$/.test(f)))
      throw new SyntaxError(`bad size expression '${expr}'`);
    terms.push({ sign: m[1] === "-" ? -1 : 1, factors });
  }
  return terms;
}
