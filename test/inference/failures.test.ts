// Failures of an inference job surface as one clear error, never as a hang: a worker that cannot load its
// shard (a damaged checkpoint file), bad requests (the job keeps working), a worker process killed between
// requests (the worker named).
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInferenceJob } from "../../actors/inference/driver.ts";
import { encode, saveSingle, TINY, trainedTinyModel } from "./fixture.ts";

describe("inference job failures", { timeout: 90_000 }, () => {
  let dir: string;
  let checkpoint: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "troupe-infer-fail-"));
    checkpoint = saveSingle(await trainedTinyModel(10), path.join(dir, "good"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a worker that cannot load its shard fails the start with the worker and the cause", async () => {
    const damaged = path.join(dir, "damaged");
    cpSync(checkpoint, damaged, { recursive: true });
    const file = path.join(
      damaged,
      readdirSync(damaged).find((f) => f.startsWith("model"))!,
    );
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(startInferenceJob({ checkpoint: damaged, config: TINY, pp: 2, tp: 1 })).rejects.toThrow(
      /inference worker infer-[0-9a-f]+-w[01] (failed|dead): .*model-p0-t0.safetensors is corrupt: sha256/,
    );
  });

  it("a worker killed between requests fails the next request with the worker named", async () => {
    const job = await startInferenceJob({ checkpoint, config: TINY, pp: 1, tp: 2 });
    try {
      // bad requests are refused with the reason and leave the job working
      await expect(job.generate([999], { maxNewTokens: 3, sampling: { temperature: 0 } })).rejects.toThrow(
        /prompt token 0 is 999, outside the vocabulary \[0, 260\)/,
      );
      const n = TINY.seqLen;
      await expect(job.tokenScores(new Int32Array(n).fill(300), new Int32Array(n), 1)).rejects.toThrow(
        /'inputs'\[0\] = 300 is outside the vocabulary/,
      );
      const first = await job.generate(encode("the"), { maxNewTokens: 3, sampling: { temperature: 0 } });
      expect(first.tokens).toHaveLength(3);
      const victim = job.workerRecords()[1]!;
      expect(victim.state).toBe("alive");
      process.kill(victim.pid!, "SIGKILL");
      await expect(job.generate(encode("the"), { maxNewTokens: 3, sampling: { temperature: 0 } })).rejects.toThrow(
        new RegExp(`inference worker ${victim.id} (failed|dead): .*SIGKILL`),
      );
    } finally {
      await job.close();
    }
  });
});
