// Re-sharding ZeRO-1 state live over a new data-parallel group (an elastic shrink or grow at any dp): every member
// says which flat ranges of the parameters and moments it holds, one holder of each part sends it to every member,
// and each member ends with the whole state (ZeroAdamW.reshardOn builds the new layout's optimizer from it). The
// whole state is held only for the duration of a resize, as when a checkpoint is loaded.
import type { Collectives } from "../../runtime/collectives/types.ts";
import { OptimizerError } from "./errors.ts";
import type { Shard, ShardTensorPiece } from "./zero-shards.ts";

const TAG = "zero-reshard";

/** What a member brings to a re-shard. */
export interface LocalHold {
  stepCount: number;
  /** length of the flat buffer */
  total: number;
  /** [start, end) ranges of the flat buffer whose parameters and moments it holds (at most 2; none for a new replica) */
  ranges: [number, number][];
  /** parameters, exp_avg and exp_avg_sq of [start, end) (inside one held range), one after another */
  exportRange(start: number, end: number): Float32Array;
}

export interface WholeState {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** Parameters, exp_avg and exp_avg_sq of the flat range [start, end) of shard `s` (its pieces as shardTensors gives them). */
export function exportRange(
  s: Pick<Shard, "start" | "expAvg" | "expAvgSq">,
  pieces: readonly ShardTensorPiece[],
  start: number,
  end: number,
): Float32Array {
  const n = end - start;
  const out = new Float32Array(3 * n);
  for (const p of pieces) {
    const at = s.start + p.at;
    const a = Math.max(start, at),
      b = Math.min(end, at + p.end - p.start);
    if (b > a) out.set(p.param.subarray(a - at, b - at), a - start);
  }
  out.set(s.expAvg.subarray(start - s.start, end - s.start), n);
  out.set(s.expAvgSq.subarray(start - s.start, end - s.start), 2 * n);
  return out;
}

/** Every member's ranges (an all-gather of fixed headers), then each part from one holder to every member. */
export async function exchangeWholeState(group: Collectives, local: LocalHold): Promise<{ whole: WholeState; stepCount: number }> {
  const { ranges, total } = local;
  if (ranges.length > 2) throw new OptimizerError(`ZeRO-1 re-shard: ${ranges.length} ranges held, at most 2`);
  // integers as two 16-bit halves (exact in fp32): step count, range count, then up to two ranges
  const words = [local.stepCount, ranges.length, ...ranges.flat(), ...new Array<number>(4 - 2 * ranges.length).fill(0)];
  const headers = await group.allGather(Float32Array.from(words.flatMap((w) => [Math.floor(w / 65536), w % 65536])));
  const word = (m: number, i: number) => headers[m * 12 + 2 * i]! * 65536 + headers[m * 12 + 2 * i + 1]!;
  const held: HeldRange[] = [];
  const steps = new Set<number>();
  for (let m = 0; m < group.size; m++) {
    if (word(m, 1) > 0) steps.add(word(m, 0));
    for (let k = 0; k < word(m, 1); k++) held.push({ member: m, start: word(m, 2 + 2 * k), end: word(m, 3 + 2 * k) });
  }
  if (steps.size === 0) throw new OptimizerError("ZeRO-1 re-shard: no member holds any moments");
  if (steps.size > 1)
    throw new OptimizerError(`ZeRO-1 re-shard: the members holding moments are at optimizer steps ${[...steps].join(", ")}`);
  const whole = { params: new Float32Array(total), m: new Float32Array(total), v: new Float32Array(total) };
  const put = (s: number, e: number, data: Float32Array) => {
    const n = e - s;
    if (data.length !== 3 * n) throw new OptimizerError(`ZeRO-1 re-shard: ${data.length} values for a range of ${n}`);
    whole.params.set(data.subarray(0, n), s);
    whole.m.set(data.subarray(n, 2 * n), s);
    whole.v.set(data.subarray(2 * n), s);
  };
  const plan = coverRanges(held, total);
  const sends: Promise<void>[] = [];
  for (const p of plan) {
    if (p.member !== group.rank) continue;
    const data = local.exportRange(p.start, p.end);
    put(p.start, p.end, data);
    for (let peer = 0; peer < group.size; peer++) if (peer !== group.rank) sends.push(group.send(data, peer, TAG));
  }
  const received = (async () => {
    for (const p of plan) if (p.member !== group.rank) put(p.start, p.end, await group.recv(p.member, TAG));
  })();
  await Promise.all([...sends, received]);
  return { whole, stepCount: [...steps][0]! };
}

/** A flat range whose parameters and moments a member of the group holds. */
interface HeldRange {
  member: number;
  start: number;
  end: number;
}

/**
 * Who sends which part of [0, total) when a group re-shards: walking up from 0, the range reaching furthest among
 * those holding the current position (lowest member first on a tie), so every member computes the same plan from
 * the same headers. Throws where no member holds a position (state lost).
 */
export function coverRanges(held: readonly HeldRange[], total: number): HeldRange[] {
  const plan: HeldRange[] = [];
  for (let at = 0; at < total;) {
    const here = held.filter((r) => r.start <= at && r.end > at);
    if (here.length === 0) throw new RangeError(`no member holds element ${at} of ${total}: the state cannot be re-sharded`);
    const best = here.reduce((a, b) => (b.end > a.end || (b.end === a.end && b.member < a.member) ? b : a));
    plan.push({ member: best.member, start: at, end: best.end });
    at = best.end;
  }
  return plan;
}
