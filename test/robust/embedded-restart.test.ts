// `troupe train`'s default embedded cluster: its private nats-server is SIGKILLed mid-run and started again on the
// same port with the same store by the run itself; training goes on to the end with the reference numbers.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import { pollUntil } from "../../runtime/async.ts";
import { relative, singleRankRun } from "../distributed/fixtures/single-rank.ts";
import { hooksFile, type RobustHooks } from "./fixtures/fault-backends.ts";
import { writeTinyDpConfig } from "../distributed/fixtures/tiny-dp-job.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-robust-embedded-"));
const backendsModule = path.resolve("test/robust/fixtures/fault-backends.ts");
const STEPS = 8;
const configFile = path.join(root, "embedded.yaml");
writeTinyDpConfig(configFile, { name: "robust-embedded", seed: 9, steps: STEPS });

/** pids of the embedded nats-servers that wrote a ports file (one per start). */
function serverPids(natsDir: string): number[] {
  if (!existsSync(natsDir)) return [];
  return readdirSync(natsDir).flatMap((f) => (/_(\d+)\.ports$/.exec(f) ? [Number(/_(\d+)\.ports$/.exec(f)![1])] : []));
}

describe("embedded nats-server killed during `troupe train`", () => {
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("is started again on the same port and store, and training finishes with the reference numbers", async () => {
    const runDir = path.join(root, "run");
    mkdirSync(runDir, { recursive: true });
    const hooks: RobustHooks = { slow: { rank: 0, msPerMicroBatch: 60 } };
    writeFileSync(hooksFile(runDir), JSON.stringify(hooks));
    const out = new PassThrough();
    out.resume();
    const running = runDistributed({ configFile, runDir, backendsModule, out: out as unknown as NodeJS.WriteStream, tty: false });
    running.catch(() => undefined);

    const log = path.join(runDir, "train.log");
    const committed = (step: number) =>
      existsSync(log) &&
      readFileSync(log, "utf8")
        .split("\n")
        .some((l) => l.includes('"msg":"step committed"') && l.includes(`"step":${step},`));
    // the log is all there is to watch: poll it (workers booting on a loaded machine take a while to get there)
    let ended = false;
    void running.finally(() => (ended = true));
    await pollUntil(
      () => (committed(3) ? true : ended ? Promise.reject(new Error("the run ended before step 3 was committed")) : undefined),
      { what: "step 3 committed", timeoutMs: 100_000 },
    );
    const [pid] = serverPids(path.join(runDir, "nats"));
    process.kill(pid!, "SIGKILL");

    const run = await running;
    expect(run.steps.map((s) => s.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    const reference = await singleRankRun(configFile, STEPS);
    for (const [i, s] of run.steps.entries()) expect(relative(s.loss, reference.losses[i]!)).toBeLessThan(1e-5);
    const text = readFileSync(log, "utf8");
    expect(text).toContain("embedded nats-server exited: starting it again on the same port and store");
    const back = text.split("\n").find((l) => l.includes("embedded nats-server is back"));
    expect(back).toBeDefined();
    expect((JSON.parse(back!) as { pid: number }).pid).not.toBe(pid);
  }, 120_000);
});
