// Real processes, real sockets, a real nats-server for the rendezvous.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import { chunkBounds } from "../../runtime/collectives/mod.ts";
import { BUCKET_SIZES, layoutFor, sequentialReduce, testData } from "./data.ts";
import { killAll, spawnRanks } from "./spawn-ranks.ts";

const natsUrl = inject("natsUrl");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-collectives-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let sessions = 0;
const session = () => `t${process.pid}-${Date.now()}-${sessions++}`;

function load(dir: string, rank: number, name: string): Float32Array {
  const b = readFileSync(path.join(dir, `r${rank}-${name}.bin`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function expectBitEqual(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const bad = a.findIndex((v, i) => v !== e[i]);
  expect(bad, `${label}: first differing element ${bad}: ${actual[bad]} vs ${expected[bad]}`).toBe(-1);
}

describe.each([2, 4, 8])("CPU collectives with %i rank processes", (n) => {
  it("equal the sequential reference bit for bit, twice", { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(path.join(root, `n${n}-`));
    const ranks = spawnRanks(n, { natsUrl, session: session(), scenario: "suite", outDir: dir });
    try {
      await Promise.all(ranks.map((r) => r.waitFor((m) => m.done === true, 80_000)));
      expect(await Promise.all(ranks.map((r) => r.exited))).toEqual(new Array(n).fill(0));
    } finally {
      killAll(ranks);
    }
    const all = (seed: number, length: number | ((r: number) => number)) =>
      Array.from({ length: n }, (_, r) => testData(seed, r, typeof length === "number" ? length : length(r)));
    const sum = sequentialReduce(all(1, 1003), "sum");
    // the order matters for these values: summing in reverse rank order rounds differently somewhere
    const reversed = sequentialReduce(all(1, 1003).reverse(), "sum");
    if (n > 2) expect(sum.some((v, i) => v !== reversed[i])).toBe(true);
    const big = sequentialReduce(all(4, 300_001), "sum");
    const rsFull = sequentialReduce(all(5, 1003), "sum");
    const gathered = Float32Array.from(all(6, (r) => r + 1).flatMap((x) => [...x]));
    const layout = rankLayout(layoutFor(n));
    // bucketed gradient all-reduce, averaged: the sum in rank order, then × 1/n in fp32
    const averaged = Float32Array.from(
      BUCKET_SIZES.flatMap((len, i) => [...sequentialReduce(all(30 + i, len), "sum")].map((v) => Math.fround(v * (1 / n)))),
    );
    for (let r = 0; r < n; r++) {
      expectBitEqual(load(dir, r, "ar-sum"), sum, `rank ${r} allReduce sum`);
      expectBitEqual(load(dir, r, "ar-sum-again"), sum, `rank ${r} allReduce sum, second run`);
      expectBitEqual(load(dir, r, "ar-max"), sequentialReduce(all(2, 17), "max"), `rank ${r} allReduce max`);
      expectBitEqual(load(dir, r, "ar-min"), sequentialReduce(all(2, 17), "min"), `rank ${r} allReduce min`);
      expectBitEqual(load(dir, r, "ar-tiny"), sequentialReduce(all(3, 3), "sum"), `rank ${r} allReduce of 3 elements`);
      expectBitEqual(load(dir, r, "ar-big"), big, `rank ${r} allReduce of 300001 elements`);
      const [a, b] = chunkBounds(1003, n, r);
      expectBitEqual(load(dir, r, "rs"), rsFull.subarray(a, b), `rank ${r} reduceScatter`);
      expectBitEqual(load(dir, r, "ag"), gathered, `rank ${r} allGather`);
      expectBitEqual(load(dir, r, "bc"), testData(7, n - 1, 100), `rank ${r} broadcast`);
      expectBitEqual(load(dir, r, "p2p"), testData(8, (r + n - 1) % n, 50), `rank ${r} recv`);
      expectBitEqual(load(dir, r, "buckets-small"), averaged, `rank ${r} gradient buckets of 4 KB`);
      expectBitEqual(load(dir, r, "buckets-one"), averaged, `rank ${r} gradient buckets, one bucket`);
      for (const [name, groups, seed] of [
        ["tp-ar", layout.tpGroups, 9],
        ["dp-ar", layout.dpGroups, 10],
      ] as const) {
        const g = groups.find((x) => x.includes(r))!;
        expectBitEqual(
          load(dir, r, name),
          sequentialReduce(
            g.map((m) => testData(seed, m, 257)),
            "sum",
          ),
          `rank ${r} ${name}`,
        );
      }
    }
  });
});

describe("a peer dies", () => {
  it("rejects the survivors' pending all-reduce within a second, and later operations at once", { timeout: 60_000 }, async () => {
    const n = 3;
    const victim = 2;
    const ranks = spawnRanks(n, { natsUrl, session: session(), scenario: "kill", outDir: root, victim });
    try {
      await Promise.all(ranks.map((r) => r.waitFor((m) => m.ready === true)));
      await Promise.all(ranks.filter((r) => r.rank !== victim).map((r) => r.waitFor((m) => m.waiting === true)));
      await new Promise((r) => setTimeout(r, 200)); // let the survivors block on the victim's chunk
      const killedAt = Date.now();
      ranks[victim]!.child.kill("SIGKILL");
      for (const r of ranks.filter((x) => x.rank !== victim)) {
        const m = await r.waitFor((x) => typeof x.result === "string", 10_000);
        expect(m.result).toBe("rejected");
        expect(m.name).toBe("PeerLostError");
        expect(m.message).toMatch(/rank 2 connection lost/);
        expect((m.at as number) - killedAt).toBeLessThan(1000);
        const next = await r.waitFor((x) => typeof x.next === "string");
        expect(next.next).toBe("PeerLostError");
        expect(next.nextMs as number).toBeLessThan(1000);
      }
    } finally {
      killAll(ranks);
    }
  });
});
