import { elementCount, gptParameterLayout } from "./param-layout.ts";
import type { GptConfig } from "./types.ts";

/** Training FLOPs per token by the usual count: 6·params + 12·layers·seqLen·dModel (attention). */
export function modelFlopsPerToken(config: GptConfig): number {
  const params = gptParameterLayout(config).reduce((s, p) => s + elementCount(p.shape), 0);
  return 6 * params + 12 * config.layers * config.seqLen * config.dModel;
}
