// NCCL collectives: the unique-id exchange through NATS (runs everywhere), and, where a machine has two or more
// GPUs with NCCL, one process per GPU running the operations against the sequential reference bit for bit and a
// killed rank failing its peers' operation (as on TCP). Elsewhere those cases are skipped with the reason.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadCudaAddon } from "../../native/cuda-addon.ts";
import { cudaStatus } from "../../native/cuda-backend.ts";
import { referenceBackend } from "../../native/reference/mod.ts";
import { chunkBounds, CollectiveError, RendezvousError } from "../../runtime/collectives/mod.ts";
import { createNcclCollectives } from "../../runtime/collectives/nccl-collectives.ts";
import { KvNcclIdExchange } from "../../runtime/collectives/nccl-rendezvous.ts";
import { sequentialReduce, testData } from "./data.ts";
import { killAll, spawnRanks } from "./spawn-ranks.ts";

const natsUrl = inject("natsUrl");
let nc: NatsConnection;
beforeAll(async () => {
  nc = await connect({ servers: natsUrl });
});
afterAll(async () => {
  await nc.close();
});
let sessions = 0;
const session = () => `nccl${process.pid}-${Date.now()}-${sessions++}`;

describe("NCCL unique id through the NATS rendezvous bucket", () => {
  it("a member waiting for the id gets exactly the bytes the group's first member publishes", async () => {
    const s = session();
    const [first, other] = await Promise.all([KvNcclIdExchange.open(nc, s), KvNcclIdExchange.open(nc, s)]);
    const id = Uint8Array.from({ length: 128 }, (_, i) => (i * 37 + 11) % 256);
    const waiting = other.lookup([0, 2, 5], 10_000);
    await first.publish([0, 2, 5], id);
    expect(await waiting).toEqual(id);
    expect(await other.lookup([0, 2, 5], 1000)).toEqual(id); // published before the lookup: found at once
    await expect(other.lookup([0, 2], 300)).rejects.toThrow(RendezvousError); // another group: not published
  });

  it("refuses ids of the wrong size and sessions the KV keys cannot hold", async () => {
    const ex = await KvNcclIdExchange.open(nc, session());
    await expect(ex.publish([0], new Uint8Array(64))).rejects.toThrow(/128 bytes/);
    await expect(KvNcclIdExchange.open(nc, "bad session!")).rejects.toThrow(/may only contain/);
  });
});

it("NCCL collectives need the CUDA backend's memory", async () => {
  const rendezvous = { publish: async () => {}, lookup: async () => ({ host: "", port: 0 }) };
  const ids = await KvNcclIdExchange.open(nc, session());
  await expect(
    createNcclCollectives({ rank: 0, worldSize: 1, session: "s", rendezvous, ids, backend: referenceBackend, key: new Uint8Array(32) }),
  ).rejects.toThrow(CollectiveError);
});

function multiGpuSkipReason(): string | undefined {
  const status = cudaStatus();
  if (!status.available) return status.reason;
  if (status.probe.devices < 2) return `${status.probe.devices} GPU here; the NCCL process tests need 2`;
  try {
    loadCudaAddon().ncclVersion();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}
const skipReason = multiGpuSkipReason();
const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "nccl-rank-worker.ts");

if (skipReason !== undefined) it.skip(`NCCL with one process per GPU: not run here: ${skipReason}`, () => {});

describe.runIf(skipReason === undefined)("NCCL collectives, one process per GPU", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "troupe-nccl-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const n = 2;
  const load = (rank: number, name: string) => {
    const b = readFileSync(path.join(root, `r${rank}-${name}.bin`));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  const all = (seed: number, length: number | ((r: number) => number)) =>
    Array.from({ length: n }, (_, r) => testData(seed, r, typeof length === "number" ? length : length(r)));

  it("equal the sequential reference bit for bit, as the TCP backend does", { timeout: 120_000 }, async () => {
    const ranks = spawnRanks(n, { natsUrl, session: session(), scenario: "suite", outDir: root }, worker);
    try {
      await Promise.all(ranks.map((r) => r.waitFor((m) => m.done === true, 100_000)));
    } finally {
      killAll(ranks);
    }
    const sum = sequentialReduce(all(1, 1003), "sum");
    const rs = sequentialReduce(all(5, 1003), "sum");
    for (let r = 0; r < n; r++) {
      expect(load(r, "ar-sum")).toEqual(sum);
      expect(load(r, "ar-sum-again")).toEqual(sum);
      expect(load(r, "ar-max")).toEqual(sequentialReduce(all(2, 17), "max"));
      expect(load(r, "ar-min")).toEqual(sequentialReduce(all(2, 17), "min"));
      expect(load(r, "ar-big")).toEqual(sequentialReduce(all(4, 300_001), "sum"));
      const [a, b] = chunkBounds(1003, n, r);
      expect(load(r, "rs")).toEqual(rs.subarray(a, b));
      expect(load(r, "ag")).toEqual(Float32Array.from(all(6, (q) => q + 1).flatMap((x) => [...x])));
      expect(load(r, "bc")).toEqual(testData(7, n - 1, 100));
      expect(load(r, "p2p")).toEqual(testData(8, (r + n - 1) % n, 50));
    }
  });

  it("a killed rank fails its peer's all-reduce instead of hanging it", { timeout: 120_000 }, async () => {
    const ranks = spawnRanks(n, { natsUrl, session: session(), scenario: "kill", outDir: root, victim: 1 }, worker);
    try {
      await Promise.all(ranks.map((r) => r.waitFor((m) => m.ready === true, 100_000)));
      await ranks[0]!.waitFor((m) => m.waiting === true);
      ranks[1]!.child.kill("SIGKILL");
      const outcome = await ranks[0]!.waitFor((m) => m.result !== undefined, 30_000);
      expect(outcome).toMatchObject({ result: "rejected", name: "PeerLostError" });
    } finally {
      killAll(ranks);
    }
  });
});
