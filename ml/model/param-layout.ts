// The GPT's parameters as a pure function of its config: names, shapes and how each is initialised.
// Worked example, GptConfig { vocabSize 11, seqLen 5, layers 1, dModel 8, heads 2 }:
//   wte [11, 8] normal · wpe [5, 8] normal
//   h.0.ln1.weight [8] ones · h.0.ln1.bias [8] zeros
//   h.0.attn.qkv.weight [24, 8] normal · h.0.attn.qkv.bias [24] zeros      (rows: q | k | v, heads inside each)
//   h.0.attn.proj.weight [8, 8] residual · h.0.attn.proj.bias [8] zeros
//   h.0.ln2.weight [8] ones · h.0.ln2.bias [8] zeros
//   h.0.mlp.fc.weight [32, 8] normal · h.0.mlp.fc.bias [32] zeros
//   h.0.mlp.proj.weight [8, 32] residual · h.0.mlp.proj.bias [8] zeros
//   lnf.weight [8] ones · lnf.bias [8] zeros
// Linear weights are [out, in] (PyTorch's nn.Linear). A pipeline stage takes a layer range (first stage adds
// wte/wpe, last adds lnf and uses wte as the tied head); a tensor shard splits qkv/fc by rows and proj by columns.
import type { GptConfig } from "./types.ts";

/** normal: N(0, 0.02); residual: N(0, 0.02/sqrt(2·layers)) for projections into the residual stream. */
export type InitKind = "normal" | "residual" | "zeros" | "ones";

export interface ParameterSpec {
  name: string;
  shape: number[];
  init: InitKind;
}

export const INIT_STD = 0.02;

export function blockParameterLayout(config: GptConfig, layer: number): ParameterSpec[] {
  const d = config.dModel;
  const p = `h.${layer}`;
  return [
    { name: `${p}.ln1.weight`, shape: [d], init: "ones" },
    { name: `${p}.ln1.bias`, shape: [d], init: "zeros" },
    { name: `${p}.attn.qkv.weight`, shape: [3 * d, d], init: "normal" },
    { name: `${p}.attn.qkv.bias`, shape: [3 * d], init: "zeros" },
    { name: `${p}.attn.proj.weight`, shape: [d, d], init: "residual" },
    { name: `${p}.attn.proj.bias`, shape: [d], init: "zeros" },
    { name: `${p}.ln2.weight`, shape: [d], init: "ones" },
    { name: `${p}.ln2.bias`, shape: [d], init: "zeros" },
    { name: `${p}.mlp.fc.weight`, shape: [4 * d, d], init: "normal" },
    { name: `${p}.mlp.fc.bias`, shape: [4 * d], init: "zeros" },
    { name: `${p}.mlp.proj.weight`, shape: [d, 4 * d], init: "residual" },
    { name: `${p}.mlp.proj.bias`, shape: [d], init: "zeros" },
  ];
}

export function gptParameterLayout(config: GptConfig): ParameterSpec[] {
  const layout: ParameterSpec[] = [
    { name: "wte", shape: [config.vocabSize, config.dModel], init: "normal" },
    { name: "wpe", shape: [config.seqLen, config.dModel], init: "normal" },
  ];
  for (let i = 0; i < config.layers; i++) layout.push(...blockParameterLayout(config, i));
  layout.push({ name: "lnf.weight", shape: [config.dModel], init: "ones" }, { name: "lnf.bias", shape: [config.dModel], init: "zeros" });
  return layout;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Weight decay applies to matrices (linear weights and embeddings), not to biases or LayerNorm gains. */
export function decaysWeight(shape: readonly number[]): boolean {
  return shape.length >= 2;
}
