// The one forward-only pipeline: a batch goes through the stages in order, no gradient kept. Validation, scoring,
// a prefill and each decoding step are this pass with a different stage call. Each of this rank's model chunks
// (interleaved: chunk c is virtual stage c·p + rank) gets the previous virtual stage's output over the PP group,
// or carried in this process when the pipeline has one rank; the first stage reads tokens instead.
import { virtualStageOf } from "../parallel/schedule-types.ts";
import type { Collectives } from "../../runtime/collectives/types.ts";

/** What the pass needs of a model chunk (a StageModel). */
export interface PipelineChunk {
  readonly isFirst: boolean;
  readonly isLast: boolean;
}

/**
 * Runs `pass` on each chunk in order, `activation` being the previous virtual stage's output (undefined on the
 * first stage), and sends on each output but the last stage's, tagged `${tag}:${virtual stage}`. Returns the last
 * stage's output on the rank that holds it, undefined on the others. Every rank of the pipeline must call it with
 * the same tag.
 */
export async function forwardThroughPipeline<C extends PipelineChunk, T extends { activation?: Float32Array }>(
  chunks: readonly C[],
  pp: Collectives,
  tag: string,
  pass: (chunk: C, activation: Float32Array | undefined) => Promise<T>,
): Promise<T | undefined> {
  const p = pp.size,
    stage = pp.rank;
  const next = (stage + 1) % p,
    prev = (stage + p - 1) % p;
  let carried: Float32Array | undefined;
  let last: T | undefined;
  for (const [c, chunk] of chunks.entries()) {
    const vs = virtualStageOf(stage, c, p);
    const activation = chunk.isFirst ? undefined : (carried ?? (await pp.recv(prev, `${tag}:${vs}`)));
    const out = await pass(chunk, activation);
    carried = undefined;
    if (chunk.isLast) last = out;
    else if (p === 1) carried = out.activation;
    else await pp.send(out.activation!, next, `${tag}:${vs + 1}`);
  }
  return last;
}
