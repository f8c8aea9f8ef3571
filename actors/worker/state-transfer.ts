// Peer restore over the data plane (never through NATS): a DP peer holding the same shard sends its parameters,
// AdamW moments, optimizer step count and last applied step to the replacement, tensor by tensor in the fixed
// order of parameters() then optimizerState(); both sides hold the same shapes, so lengths are checked. With ZeRO-1
// the sender's moments are a different shard from the receiver's: it sends those the receiver holds (its own
// shard's and its neighbour's), from its own shard or its backup copy (optimizerStateFor). At dp > 2 no peer holds
// both of a replacement's shards: the one before it sends the parameters and the replacement's own shard (its
// backup copy), the one after it its own shard, the replacement's backup (a StatePart each).
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import type { NamedTensor } from "../../ml/model/types.ts";
import { StateTransferError } from "./errors.ts";
import type { RankCompute } from "./rank-compute.ts";

const TAG = "restore";

/** What one peer sends a replacement: the parameters or not, and which ZeRO-1 shards' moments (absent: all it holds). */
export interface StatePart {
  params: boolean;
  zeroShards?: readonly number[];
}

function sentBy(c: RankCompute, to: number, part: StatePart): NamedTensor[] {
  const moments = part.zeroShards ? c.momentsOfShards(part.zeroShards) : c.optimizerStateFor(to);
  return [...(part.params ? c.parameters() : []), ...moments];
}

function heldFor(c: RankCompute, part: StatePart): NamedTensor[] {
  const moments = part.zeroShards ? c.momentsOfShards(part.zeroShards) : c.optimizerState();
  return [...(part.params ? c.parameters() : []), ...moments];
}

/** Sends this compute's state (or `part` of it) to world rank `to`; returns the bytes sent. */
export async function sendState(
  world: CollectivesWorld,
  to: number,
  c: RankCompute,
  appliedStep: number,
  part: StatePart = { params: true },
): Promise<number> {
  const tensors = sentBy(c, to, part);
  // integers below 2^24 are exact in fp32
  await world.send(new Float32Array([c.optimizerStepCount, appliedStep, tensors.length]), to, TAG);
  let bytes = 12;
  for (const t of tensors) {
    await world.send(t.data, to, TAG);
    bytes += t.data.byteLength;
  }
  return bytes;
}

/** Receives the state (or `part` of it) sent by world rank `from` into this compute; returns the peer's last applied step. */
export async function receiveState(
  world: CollectivesWorld,
  from: number,
  c: RankCompute,
  part: StatePart = { params: true },
): Promise<{ step: number; stepCount: number }> {
  const tensors = heldFor(c, part);
  const [stepCount, step, count] = await world.recv(from, TAG);
  if (count !== tensors.length)
    throw new StateTransferError(`rank ${from} sends ${count} tensors, this shard holds ${tensors.length}: not the same shard`);
  for (const t of tensors) {
    const data = await world.recv(from, TAG);
    if (data.length !== t.data.length)
      throw new StateTransferError(`tensor ${t.name}: rank ${from} sent ${data.length} values, expected ${t.data.length}`);
    t.data.set(data);
  }
  c.optimizerStepCount = stepCount!;
  return { step: step!, stepCount: stepCount! };
}
