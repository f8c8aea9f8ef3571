// Jobs that live in the cluster, driven through the real `troupe` command against a cluster `troupe up` started
// (nats-server, host agent, job service: real processes): submit detached, list, attach, stop; a duplicate --name
// refused without touching the running job; SIGHUP to the following command leaves the job running; the job's
// coordinator SIGKILLed mid-step and mid-recovery: it is started again, takes the job over from its running
// workers, and the final parameters equal a failure-free run's bit for bit.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobStore } from "../../actors/coordinator/job-store.ts";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { decode } from "../../runtime/codec.ts";
import { EventLog } from "../../runtime/event-log.ts";
import type { LifecycleRecord } from "../../runtime/lifecycle-recorder.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { readClusterInfo, readToken } from "../../cli/cluster/cluster-file.ts";
import { tinyDp2Yaml } from "../distributed/fixtures/tiny-job-yaml.ts";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-jobs-"));
const cluster = path.join(root, ".troupe");
const config = path.join(root, "tiny-dp2.yaml");

async function troupe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args, "--cluster", cluster], { cwd: repo, timeout: 240_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The final checkpoint's file hashes: two runs that trained the same numbers have the same ones. */
function finalFiles(runDir: string, step: number): Record<string, string> {
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", `step-${String(step).padStart(8, "0")}`, "manifest.json"), "utf8"));
  return Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256]));
}

const STEPS = 240;
let nats: { nc: Awaited<ReturnType<typeof connectNats>>; registry: Registry; store: JobStore; ns: ReturnType<typeof namespace> };

beforeAll(async () => {
  writeFileSync(config, tinyDp2Yaml({ name: "jt", steps: STEPS, evalEvery: 60, checkpointEvery: 60, keep: 2, decayTokens: 5000 }));
  const up = await troupe("up");
  expect(up.stderr).toBe("");
  const info = readClusterInfo(cluster);
  const nc = await connectNats({ url: info.url, token: readToken(info.tokenFile), name: "jobs-test" });
  const ns = namespace(info.clusterId);
  nats = { nc, ns, registry: await Registry.open(nc, ns), store: await JobStore.open(nc, ns, await EventLog.open(nc, ns)) };
}, 120_000);

afterAll(async () => {
  await nats?.nc.close();
  await troupe("down");
  rmSync(root, { recursive: true, force: true });
}, 60_000);

const committed = async (job: string) => (await nats.store.latest(job))?.step ?? 0;
const submit = (name: string, ...extra: string[]) =>
  troupe("train", config, "--detach", "--name", name, "--run-dir", path.join(root, name), "--no-samples", ...extra);

/** SIGKILL a job's actor by its record's pid; answers the pid. */
async function kill(actorId: string): Promise<number> {
  const rec = await pollUntil(
    async () => {
      const r = await nats.registry.getActor(actorId);
      return r?.state === "alive" && r.pid !== null ? r : undefined;
    },
    { what: `${actorId} alive`, timeoutMs: 60_000, everyMs: 50 },
  );
  process.kill(rec.pid!, "SIGKILL");
  return rec.pid!;
}

describe("jobs in the cluster", { timeout: 300_000 }, () => {
  it("a failure-free reference: submitted detached, listed, followed to the end by attach (exit 0)", async () => {
    const s = await submit("ref");
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/job ref submitted \(dp 2 · pp 1 · tp 1\)/);
    expect(s.stdout).toMatch(/detached: troupe attach ref/);
    const jobs = JSON.parse((await troupe("jobs", "--json")).stdout) as { id: string; state: string; layout: object }[];
    expect(jobs.find((j) => j.id === "ref")).toMatchObject({ layout: { dp: 2, pp: 1, tp: 1 } });
    const a = await troupe("attach", "ref", "--progress", "lines");
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/2 workers loaded: ref-w0, ref-w1/);
    expect(a.stdout).toMatch(new RegExp(`finished at step ${STEPS}/${STEPS}`));
    const after = JSON.parse((await troupe("jobs", "--json")).stdout) as { id: string; state: string; step: number }[];
    expect(after.find((j) => j.id === "ref")).toMatchObject({ state: "completed", step: STEPS });
  });

  it("a duplicate --name is refused and the running job is untouched", async () => {
    expect((await submit("dup")).code).toBe(0);
    await pollUntil(async () => ((await committed("dup")) >= 5 ? true : undefined), { what: "dup stepping", timeoutMs: 120_000 });
    const second = await submit("dup");
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^troupe: job id 'dup' is taken: choose another --name/m);
    const a = await troupe("attach", "dup", "--progress", "lines");
    expect(a.code).toBe(0);
    expect(finalFiles(path.join(root, "dup"), STEPS)).toEqual(finalFiles(path.join(root, "ref"), STEPS));
  });

  it("SIGHUP to the following troupe train ends the following, never the job; troupe stop stops it with a checkpoint", async () => {
    const follower = spawn(
      process.execPath,
      [
        bin,
        "train",
        config,
        "--name",
        "hup",
        "--run-dir",
        path.join(root, "hup"),
        "--no-samples",
        "--progress",
        "lines",
        "--cluster",
        cluster,
      ],
      { cwd: repo, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    follower.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once("exit", (code) => resolve(code)));
    await pollUntil(() => (/^step \d+\/\d+/m.test(out) ? true : undefined), { what: "the follower printing steps", timeoutMs: 120_000 });
    follower.kill("SIGHUP");
    expect(await exited).toBe(0);
    const at = await committed("hup");
    await pollUntil(async () => ((await committed("hup")) > at + 5 ? true : undefined), { what: "hup stepping on", timeoutMs: 60_000 });
    const stop = await troupe("stop", "hup");
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/job hup stopped; checkpoint .*hup\/checkpoints\/step-\d+/);
    const attach = await troupe("attach", "hup", "--progress", "lines");
    expect(attach.code).toBe(143); // stopped by troupe stop (like SIGTERM): not a success for a scheduler
    expect(attach.stdout).toMatch(/stop asked \(stopped by an operator \(troupe stop\)\)/);
  });

  it("the coordinator SIGKILLed mid-step: started again, it takes the job over and the result is bit-identical", async () => {
    expect((await submit("ck1")).code).toBe(0);
    await pollUntil(async () => ((await committed("ck1")) >= 30 ? true : undefined), { what: "ck1 at step 30", timeoutMs: 120_000 });
    const workersBefore = await Promise.all(["ck1-w0", "ck1-w1"].map(async (id) => (await nats.registry.getActor(id))!.pid));
    await kill("ck1-coordinator");
    const at = await committed("ck1");
    await pollUntil(async () => ((await committed("ck1")) > at + 5 ? true : undefined), { what: "ck1 stepping again", timeoutMs: 120_000 });
    // the workers kept their processes (and so their state)
    const workersAfter = await Promise.all(["ck1-w0", "ck1-w1"].map(async (id) => (await nats.registry.getActor(id))!.pid));
    expect(workersAfter).toEqual(workersBefore);
    const a = await troupe("attach", "ck1", "--progress", "lines");
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/coordinator started again: job taken over at step \d+ in epoch 1; 2 workers kept running/);
    expect(finalFiles(path.join(root, "ck1"), STEPS)).toEqual(finalFiles(path.join(root, "ref"), STEPS));
  });

  it("the coordinator SIGKILLed mid-recovery: the recovery starts over under the new coordinator; bit-identical", async () => {
    expect((await submit("ck2")).code).toBe(0);
    await pollUntil(async () => ((await committed("ck2")) >= 30 ? true : undefined), { what: "ck2 at step 30", timeoutMs: 120_000 });
    const lifecycles = await new Kvm(nats.nc).open(nats.ns.lifecyclesBucket);
    const watch = await lifecycles.watch({ key: "job.ck2" });
    const recovering = (async () => {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const rec = decode(e.value) as LifecycleRecord;
        if (rec.value && typeof rec.value === "object" && "recovering" in rec.value) return;
      }
    })();
    await kill("ck2-w1");
    await recovering;
    watch.stop();
    await kill("ck2-coordinator");
    const a = await troupe("attach", "ck2", "--progress", "lines");
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/coordinator started again: job taken over at step \d+/);
    expect(finalFiles(path.join(root, "ck2"), STEPS)).toEqual(finalFiles(path.join(root, "ref"), STEPS));
  });

  it("gc forgets the ended jobs and their dead actors; a forgotten name can be used again", async () => {
    const dry = JSON.parse((await troupe("gc", "--dry-run", "--json")).stdout) as { removed: string[]; jobs: string[] };
    expect(dry.removed).toEqual(expect.arrayContaining(["ref-w0", "ref-w1", "ref-coordinator"]));
    expect(dry.jobs).toEqual(expect.arrayContaining(["ref", "dup", "hup", "ck1", "ck2"]));
    expect(JSON.parse((await troupe("jobs", "--json")).stdout).map((j: { id: string }) => j.id)).toContain("ref"); // a dry run
    const gc = await troupe("gc");
    expect(gc.code).toBe(0);
    expect(gc.stdout).toMatch(/^forgot 5 ended job\(s\): .*ref/m);
    expect(JSON.parse((await troupe("jobs", "--json")).stdout)).toEqual([]);
    expect(JSON.parse((await troupe("ps", "--all", "--job", "ref", "--json")).stdout)).toEqual([]);
    const again = await troupe("train", config, "--name", "ref", "--steps", "2", "--run-dir", path.join(root, "ref-again"), "--no-samples");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/finished at step 2\/2/);
  });
});
