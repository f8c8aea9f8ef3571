// The newest good checkpoint: a corrupt newer one (truncated tensor file, flipped byte, missing manifest or file)
// is skipped with the bad file and the reason.
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { latestCheckpointDir, saveCheckpoint } from "../../ml/checkpoint/store.ts";
import { describeCorruption, findCorruption, latestGoodCheckpoint, setAsideCorrupt } from "../../ml/checkpoint/verify.ts";
import { checkpointContent } from "./fixtures/content.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-verify-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Two checkpoints (steps 1 and 2) under a fresh root; returns [root, older dir, newest dir]. */
function twoCheckpoints(name: string): [string, string, string] {
  const r = path.join(root, name);
  return [r, saveCheckpoint(r, checkpointContent(1), { keep: 5 }), saveCheckpoint(r, checkpointContent(2), { keep: 5 })];
}

describe("latestGoodCheckpoint", () => {
  it("returns the newest checkpoint when it is whole", () => {
    const [r, , newest] = twoCheckpoints("whole");
    expect(latestGoodCheckpoint(r)).toEqual({ dir: newest, skipped: [] });
    expect(findCorruption(newest)).toBeUndefined();
  });

  it("falls back past a truncated tensor file", () => {
    const [r, older, newest] = twoCheckpoints("truncated");
    truncateSync(path.join(newest, "optimizer-p0-t0.safetensors"), 100);
    const good = latestGoodCheckpoint(r);
    expect(good.dir).toBe(older);
    expect(good.skipped).toHaveLength(1);
    expect(good.skipped[0]).toMatchObject({ dir: newest, file: "optimizer-p0-t0.safetensors" });
    expect(describeCorruption(good.skipped[0]!)).toMatch(
      new RegExp(
        `^checkpoint ${newest} is corrupt \\(optimizer-p0-t0\\.safetensors: truncated or damaged: 100 bytes, the manifest says \\d+\\)$`,
      ),
    );
  });

  it("falls back past a flipped byte (sha256 mismatch) of the same size", () => {
    const [r, older, newest] = twoCheckpoints("flipped");
    const file = path.join(newest, "model-p0-t0.safetensors");
    const bytes = readFileSync(file);
    bytes[bytes.length - 5]! ^= 0x01;
    writeFileSync(file, bytes);
    const good = latestGoodCheckpoint(r);
    expect(good.dir).toBe(older);
    expect(good.skipped[0]).toMatchObject({ file: "model-p0-t0.safetensors" });
    expect(good.skipped[0]!.reason).toMatch(/^sha256 [0-9a-f]{12}… does not match the manifest's [0-9a-f]{12}…$/);
  });

  it("falls back past a missing or damaged manifest and a missing file, newest first", () => {
    const r = path.join(root, "several");
    const first = saveCheckpoint(r, checkpointContent(1), { keep: 5 });
    const second = saveCheckpoint(r, checkpointContent(2), { keep: 5 });
    const third = saveCheckpoint(r, checkpointContent(3), { keep: 5 });
    const fourth = saveCheckpoint(r, checkpointContent(4), { keep: 5 });
    rmSync(path.join(fourth, "manifest.json"));
    writeFileSync(path.join(third, "manifest.json"), "{ not json");
    rmSync(path.join(second, "model-p0-t0.safetensors"));
    const good = latestGoodCheckpoint(r);
    expect(good.dir).toBe(first);
    expect(good.skipped).toEqual([
      { dir: fourth, file: "manifest.json", reason: "is missing" },
      { dir: third, file: "manifest.json", reason: "is not valid JSON (corrupt or truncated)" },
      { dir: second, file: "model-p0-t0.safetensors", reason: "is missing" },
    ]);
  });

  it("has no good checkpoint when every one is corrupt, or none exists", () => {
    const [r, older, newest] = twoCheckpoints("none-good");
    for (const d of [older, newest]) truncateSync(path.join(d, "model-p0-t0.safetensors"), 8);
    const good = latestGoodCheckpoint(r);
    expect(good.dir).toBeUndefined();
    expect(good.skipped.map((s) => s.dir)).toEqual([newest, older]);
    expect(latestGoodCheckpoint(path.join(root, "absent"))).toEqual({ dir: undefined, skipped: [] });
  });

  it("sets corrupt folders aside and points `latest` at the good one, so a new save of that step starts afresh", () => {
    const [r, older, newest] = twoCheckpoints("aside");
    truncateSync(path.join(newest, "model-p0-t0.safetensors"), 10);
    expect(setAsideCorrupt(r, latestGoodCheckpoint(r))).toEqual([`${newest}.corrupt`]);
    expect(existsSync(newest)).toBe(false);
    expect(latestCheckpointDir(r)).toBe(older);
    expect(saveCheckpoint(r, checkpointContent(2), { keep: 5 })).toBe(newest);
    expect(latestGoodCheckpoint(r)).toEqual({ dir: newest, skipped: [] });
    expect(() => setAsideCorrupt(path.join(root, "absent"), { dir: undefined, skipped: [] })).toThrow("no good checkpoint in");
  });
});
