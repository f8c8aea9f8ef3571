// GENERATED from native/kernel-specs.ts by native/kernel-rules-cc.ts: do not edit; regenerate with
//   node --import tsx native/kernel-rules-cc.ts
// The size rules of every kernel, checked by the addons before any kernel runs (the op layer checks the same).
#include "kernel_args.h"

namespace troupe {

const std::vector<KernelRule>& KernelRules() {
  static const std::vector<KernelRule> rules = {
    {"gemm", "transA:int transB:int m:int n:int k:int alpha:num a:f32 b:f32 beta:num c:f32",
     [](const Checker& c) {
       c.Need(6, c.I(2) * c.I(4), "m*k");
       c.Need(7, c.I(4) * c.I(3), "k*n");
       c.Need(9, c.I(2) * c.I(3), "m*n");
     }},
    {"linearForward", "x:f32 weight:f32 bias:f32? residual:f32? out:f32 rows:int inFeatures:int outFeatures:int",
     [](const Checker& c) {
       c.Need(0, c.I(5) * c.I(6), "rows*inFeatures");
       c.Need(1, c.I(7) * c.I(6), "outFeatures*inFeatures");
       c.Need(2, c.I(7), "outFeatures");
       c.Need(3, c.I(5) * c.I(7), "rows*outFeatures");
       c.Need(4, c.I(5) * c.I(7), "rows*outFeatures");
     }},
    {"linearBackward", "dout:f32 x:f32 weight:f32 dx:f32? dweight:f32 dbias:f32? rows:int inFeatures:int outFeatures:int accumulateDx:int",
     [](const Checker& c) {
       c.Need(0, c.I(6) * c.I(8), "rows*outFeatures");
       c.Need(1, c.I(6) * c.I(7), "rows*inFeatures");
       c.Need(2, c.I(8) * c.I(7), "outFeatures*inFeatures");
       c.Need(3, c.I(6) * c.I(7), "rows*inFeatures");
       c.Need(4, c.I(8) * c.I(7), "outFeatures*inFeatures");
       c.Need(5, c.I(8), "outFeatures");
     }},
    {"embeddingForward", "tokens:i32 wte:f32 wpe:f32? out:f32 batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
     [](const Checker& c) {
       c.Need(0, c.I(4) * c.I(5), "batch*seq");
       c.Need(1, c.I(8) * c.I(6), "vocabSize*dModel");
       c.Need(2, c.I(5) * c.I(6), "seq*dModel");
       c.Need(3, c.I(4) * c.I(5) * c.I(6), "batch*seq*dModel");
       c.Bound(c.I(8) <= c.I(9) - c.I(7), 8, "exceeds vocabTotal - vocabStart");
       c.Tokens(0, c.I(4) * c.I(5), c.I(9));
     }},
    {"embeddingBackward", "tokens:i32 dout:f32 dwte:f32 dwpe:f32? batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
     [](const Checker& c) {
       c.Need(0, c.I(4) * c.I(5), "batch*seq");
       c.Need(1, c.I(4) * c.I(5) * c.I(6), "batch*seq*dModel");
       c.Need(2, c.I(8) * c.I(6), "vocabSize*dModel");
       c.Need(3, c.I(5) * c.I(6), "seq*dModel");
       c.Bound(c.I(8) <= c.I(9) - c.I(7), 8, "exceeds vocabTotal - vocabStart");
       c.Tokens(0, c.I(4) * c.I(5), c.I(9));
     }},
    {"layerNormForward", "x:f32 gamma:f32 beta:f32 out:f32 mean:f32 rstd:f32 rows:int cols:int",
     [](const Checker& c) {
       c.Positive(7);
       c.Need(0, c.I(6) * c.I(7), "rows*cols");
       c.Need(1, c.I(7), "cols");
       c.Need(2, c.I(7), "cols");
       c.Need(3, c.I(6) * c.I(7), "rows*cols");
       c.Need(4, c.I(6), "rows");
       c.Need(5, c.I(6), "rows");
     }},
    {"layerNormBackward", "dout:f32 x:f32 gamma:f32 mean:f32 rstd:f32 dx:f32 dgamma:f32 dbeta:f32 rows:int cols:int accumulateDx:int",
     [](const Checker& c) {
       c.Positive(9);
       c.Need(0, c.I(8) * c.I(9), "rows*cols");
       c.Need(1, c.I(8) * c.I(9), "rows*cols");
       c.Need(2, c.I(9), "cols");
       c.Need(3, c.I(8), "rows");
       c.Need(4, c.I(8), "rows");
       c.Need(5, c.I(8) * c.I(9), "rows*cols");
       c.Need(6, c.I(9), "cols");
       c.Need(7, c.I(9), "cols");
     }},
    {"geluForward", "x:f32 out:f32 n:int",
     [](const Checker& c) {
       c.Need(0, c.I(2), "n");
       c.Need(1, c.I(2), "n");
     }},
    {"geluBackward", "x:f32 dout:f32 dx:f32 n:int",
     [](const Checker& c) {
       c.Need(0, c.I(3), "n");
       c.Need(1, c.I(3), "n");
       c.Need(2, c.I(3), "n");
     }},
    {"attentionForward", "qkv:f32 out:f32 probs:f32 batch:int seq:int heads:int headDim:int",
     [](const Checker& c) {
       c.Positive(3);
       c.Positive(4);
       c.Positive(5);
       c.Positive(6);
       c.Need(0, c.I(3) * c.I(4) * 3.0 * c.I(5) * c.I(6), "batch*seq*3*heads*headDim");
       c.Need(1, c.I(3) * c.I(4) * c.I(5) * c.I(6), "batch*seq*heads*headDim");
       c.Need(2, c.I(3) * c.I(5) * c.I(4) * c.I(4), "batch*heads*seq*seq");
     }},
    {"attentionBackward", "qkv:f32 probs:f32 dout:f32 dqkv:f32 batch:int seq:int heads:int headDim:int",
     [](const Checker& c) {
       c.Positive(4);
       c.Positive(5);
       c.Positive(6);
       c.Positive(7);
       c.Need(0, c.I(4) * c.I(5) * 3.0 * c.I(6) * c.I(7), "batch*seq*3*heads*headDim");
       c.Need(1, c.I(4) * c.I(6) * c.I(5) * c.I(5), "batch*heads*seq*seq");
       c.Need(2, c.I(4) * c.I(5) * c.I(6) * c.I(7), "batch*seq*heads*headDim");
       c.Need(3, c.I(4) * c.I(5) * 3.0 * c.I(6) * c.I(7), "batch*seq*3*heads*headDim");
     }},
    {"attentionDecode", "qkv:f32 kCache:f32 vCache:f32 out:f32 batch:int heads:int headDim:int maxLen:int pos:int",
     [](const Checker& c) {
       c.Positive(4);
       c.Positive(5);
       c.Positive(6);
       c.Positive(7);
       c.Need(0, c.I(4) * 3.0 * c.I(5) * c.I(6), "batch*3*heads*headDim");
       c.Need(1, c.I(4) * c.I(7) * c.I(5) * c.I(6), "batch*maxLen*heads*headDim");
       c.Need(2, c.I(4) * c.I(7) * c.I(5) * c.I(6), "batch*maxLen*heads*headDim");
       c.Need(3, c.I(4) * c.I(5) * c.I(6), "batch*heads*headDim");
       c.Bound(c.I(8) < c.I(7), 8, "must be below maxLen (the cache is full)");
     }},
    {"ceRowMax", "logits:f32 rowMax:f32 rows:int cols:int",
     [](const Checker& c) {
       c.Positive(3);
       c.Need(0, c.I(2) * c.I(3), "rows*cols");
       c.Need(1, c.I(2), "rows");
     }},
    {"ceRowSumExp", "logits:f32 rowMax:f32 sumExp:f32 rows:int cols:int",
     [](const Checker& c) {
       c.Need(0, c.I(3) * c.I(4), "rows*cols");
       c.Need(1, c.I(3), "rows");
       c.Need(2, c.I(3), "rows");
     }},
    {"ceTargetLogit", "logits:f32 targets:i32 out:f32 rows:int cols:int vocabStart:int",
     [](const Checker& c) {
       c.Need(0, c.I(3) * c.I(4), "rows*cols");
       c.Need(1, c.I(3), "rows");
       c.Need(2, c.I(3), "rows");
     }},
    {"ceBackward", "logits:f32 rowMax:f32 sumExp:f32 targets:i32 dlogits:f32 rows:int cols:int vocabStart:int scale:num",
     [](const Checker& c) {
       c.Need(0, c.I(5) * c.I(6), "rows*cols");
       c.Need(1, c.I(5), "rows");
       c.Need(2, c.I(5), "rows");
       c.Need(3, c.I(5), "rows");
       c.Need(4, c.I(5) * c.I(6), "rows*cols");
     }},
    {"crossEntropyFused", "logits:f32 targets:i32 losses:f32 rows:int cols:int scale:num",
     [](const Checker& c) {
       c.Need(0, c.I(3) * c.I(4), "rows*cols");
       c.Need(1, c.I(3), "rows");
       c.Need(2, c.I(3), "rows");
       c.Tokens(1, c.I(3), c.I(4));
     }},
    {"adamw", "param:f32 grad:f32 expAvg:f32 expAvgSq:f32 n:int lr:num beta1:num beta2:num eps:num weightDecay:num gradScale:num step:int",
     [](const Checker& c) {
       c.Positive(11);
       c.Need(0, c.I(4), "n");
       c.Need(1, c.I(4), "n");
       c.Need(2, c.I(4), "n");
       c.Need(3, c.I(4), "n");
     }},
    {"sumSquares", "x:f32 n:int",
     [](const Checker& c) {
       c.Need(0, c.I(1), "n");
     }},
    {"fill", "x:f32 n:int value:num",
     [](const Checker& c) {
       c.Need(0, c.I(1), "n");
     }},
    {"initNormal", "x:f32 n:int std:num key:num",
     [](const Checker& c) {
       c.Need(0, c.I(1), "n");
       c.Uint32(3);
     }},
  };
  return rules;
}

}  // namespace troupe
