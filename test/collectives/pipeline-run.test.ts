// The schedules' instruction lists, executed by real stage processes over the CPU collectives: no deadlock,
// and the weight gradients equal a single-process run bit for bit.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { ScheduleKind } from "../../ml/parallel/schedule-types.ts";
import type { TransferOrder } from "../../ml/parallel/schedules.ts";
import { toyReference } from "./data.ts";
import { killAll, spawnRanks } from "./spawn-ranks.ts";

const natsUrl = inject("natsUrl");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-pipeline-run-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const load = (dir: string, rank: number, name: string) => {
  const b = readFileSync(path.join(dir, `r${rank}-${name}.bin`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

describe.each([
  ["1f1b", 4, 8, 1, "rendezvous"],
  ["gpipe", 3, 3, 1, "eager"],
  ["interleaved", 2, 4, 2, "eager"],
] as [ScheduleKind, number, number, number, TransferOrder][])(
  "a %s pipeline over real processes (p %i, m %i, v %i, %s transfers)",
  (kind, p, m, v, transfers) => {
    it("runs to the end and matches the single-process gradients exactly", { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(path.join(root, `${kind}-`));
      const length = 64;
      const ranks = spawnRanks(p, {
        natsUrl,
        session: `pipe-${process.pid}-${kind}-${Date.now()}`,
        scenario: "pipeline",
        outDir: dir,
        pipeline: { kind, microbatches: m, virtualStages: v, transfers, length },
      });
      try {
        await Promise.all(ranks.map((r) => r.waitFor((msg) => msg.done === true, 50_000)));
      } finally {
        killAll(ranks);
      }
      const reference = toyReference(p * v, m, length);
      for (let s = 0; s < p; s++)
        for (let c = 0; c < v; c++) expect(load(dir, s, `wgrad-c${c}`)[0], `stage ${s} chunk ${c}`).toBe(reference[c * p + s]![0]);
      const tied = Math.fround(reference[0]![0]! + reference[p * v - 1]![0]!);
      expect(load(dir, 0, "tied")[0]).toBe(tied);
      expect(load(dir, p - 1, "tied")[0]).toBe(tied);
    });
  },
);
