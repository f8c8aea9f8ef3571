// Peer restore over the data plane (never through NATS): a DP peer holding the same shard sends its parameters,
// AdamW moments, optimizer step count and last applied step to the replacement, tensor by tensor in the fixed
// order of parameters() then optimizerState(); both sides hold the same shapes, so lengths are checked. With ZeRO-1
// the sender's moments are a different shard from the receiver's: it sends those the receiver holds (its own
// shard's and its neighbour's), from its own shard or its backup copy (optimizerStateFor).
import type { CollectivesWorld } from "../../runtime/collectives/types.ts";
import type { NamedTensor } from "../../ml/model/types.ts";
import { StateTransferError } from "./errors.ts";
import type { RankCompute } from "./rank-compute.ts";

const TAG = "restore";

function tensorsOf(c: RankCompute, forRank?: number): NamedTensor[] {
  return [...c.parameters(), ...(forRank === undefined ? c.optimizerState() : c.optimizerStateFor(forRank))];
}

/** Sends this compute's state to world rank `to`; returns the bytes sent. */
export async function sendState(world: CollectivesWorld, to: number, c: RankCompute, appliedStep: number): Promise<number> {
  const tensors = tensorsOf(c, to);
  // integers below 2^24 are exact in fp32
  await world.send(new Float32Array([c.optimizerStepCount, appliedStep, tensors.length]), to, TAG);
  let bytes = 12;
  for (const t of tensors) {
    await world.send(t.data, to, TAG);
    bytes += t.data.byteLength;
  }
  return bytes;
}

/** Receives the state sent by world rank `from` into this compute; returns the peer's last applied step. */
export async function receiveState(world: CollectivesWorld, from: number, c: RankCompute): Promise<{ step: number }> {
  const tensors = tensorsOf(c);
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
  return { step: step! };
}
