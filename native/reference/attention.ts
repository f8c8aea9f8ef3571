// Reference causal multi-head attention, written directly from the definition (no GEMM reuse).
// qkv rows are [q (heads*headDim) | k | v]; probs [batch, heads, seq, seq] is the saved softmax.
import type { FloatArray } from "./types.ts";

export function attentionForward(
  qkv: FloatArray,
  out: FloatArray,
  probs: FloatArray,
  batch: number,
  seq: number,
  heads: number,
  hd: number,
): number {
  const d = heads * hd,
    ld = 3 * d,
    scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const pBase = (b * heads + h) * seq * seq;
      for (let i = 0; i < seq; i++) {
        const qi = (b * seq + i) * ld + h * hd;
        let mx = -Infinity;
        const s = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) {
          const kj = (b * seq + j) * ld + d + h * hd;
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += qkv[qi + e]! * qkv[kj + e]!;
          s[j] = dot * scale;
          mx = Math.max(mx, s[j]!);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += s[j] = Math.exp(s[j]! - mx);
        for (let j = 0; j < seq; j++) probs[pBase + i * seq + j] = j <= i ? s[j]! / sum : 0;
        for (let e = 0; e < hd; e++) {
          let y = 0;
          for (let j = 0; j <= i; j++) y += probs[pBase + i * seq + j]! * qkv[(b * seq + j) * ld + 2 * d + h * hd + e]!;
          out[(b * seq + i) * d + h * hd + e] = y;
        }
      }
    }
  }
  return 0;
}

export function attentionBackward(
  qkv: FloatArray,
  probs: FloatArray,
  dout: FloatArray,
  dqkv: FloatArray,
  batch: number,
  seq: number,
  heads: number,
  hd: number,
): number {
  const d = heads * hd,
    ld = 3 * d,
    scale = 1 / Math.sqrt(hd);
  dqkv.fill(0, 0, batch * seq * ld);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const pBase = (b * heads + h) * seq * seq;
      const at = (t: number, part: number, e: number) => (b * seq + t) * ld + part * d + h * hd + e;
      for (let i = 0; i < seq; i++) {
        const dy = (e: number) => dout[(b * seq + i) * d + h * hd + e]!;
        const dp = new Float64Array(i + 1);
        let dot = 0;
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += dy(e) * qkv[at(j, 2, e)]!;
          dp[j] = s;
          dot += s * probs[pBase + i * seq + j]!;
        }
        for (let j = 0; j <= i; j++) {
          const p = probs[pBase + i * seq + j]!;
          const ds = p * (dp[j]! - dot) * scale;
          for (let e = 0; e < hd; e++) {
            dqkv[at(j, 2, e)] += p * dy(e);
            dqkv[at(i, 0, e)] += ds * qkv[at(j, 1, e)]!;
            dqkv[at(j, 1, e)] += ds * qkv[at(i, 0, e)]!;
          }
        }
      }
    }
  }
  return 0;
}

export function attentionDecode(
  qkv: FloatArray,
  kCache: FloatArray,
  vCache: FloatArray,
  out: FloatArray,
  batch: number,
  heads: number,
  hd: number,
  maxLen: number,
  pos: number,
): number {
  const d = heads * hd,
    scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < d; j++) {
      kCache[(b * maxLen + pos) * d + j] = qkv[b * 3 * d + d + j]!;
      vCache[(b * maxLen + pos) * d + j] = qkv[b * 3 * d + 2 * d + j]!;
    }
    for (let h = 0; h < heads; h++) {
      const s = new Float64Array(pos + 1);
      let mx = -Infinity;
      for (let t = 0; t <= pos; t++) {
        let dot = 0;
        for (let e = 0; e < hd; e++) dot += qkv[b * 3 * d + h * hd + e]! * kCache[(b * maxLen + t) * d + h * hd + e]!;
        s[t] = dot * scale;
        mx = Math.max(mx, s[t]!);
      }
      let sum = 0;
      for (let t = 0; t <= pos; t++) sum += s[t] = Math.exp(s[t]! - mx);
      for (let e = 0; e < hd; e++) {
        let y = 0;
        for (let t = 0; t <= pos; t++) y += (s[t]! / sum) * vCache[(b * maxLen + t) * d + h * hd + e]!;
        out[b * d + h * hd + e] = y;
      }
    }
  }
  return 0;
}
