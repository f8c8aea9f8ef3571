// deploy/slurm/troupe.sbatch against a real Slurm: a private munged, slurmctld and two slurmd (nodes n1, n2) on
// this machine. sbatch -N 2 runs examples/brown-dp2.yaml (a few steps) through the script: `troupe up` on the first
// node, an agent per node by srun, `troupe train`, `troupe down`. The job must complete with exit code 0, put one
// worker on each node, and train exactly what the same config trains on a plain `troupe up` cluster.
// `scancel --batch --signal=TERM` must stop a job (one node, two slots) with a checkpoint and exit code 143.
// Needs root (installs slurm-wlm and munge with apt-get when missing).
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../runtime/async.ts";
import { installSlurm, SlurmCluster, slurmUnavailable } from "./slurm-cluster.ts";

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const script = path.join(repo, "deploy/slurm/troupe.sbatch");
const CONFIG = "examples/brown-dp2.yaml";
const STEPS = 6;

const skip = slurmUnavailable();
if (skip) console.warn(`slurm test skipped: ${skip}`);

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-slurm-"));
const slurm = new SlurmCluster(root);
const clusters: string[] = [];

async function troupe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [bin, ...args], { cwd: repo, timeout: 240_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Submits the deploy script on `nodes` nodes with CONFIG and `trainArgs`; the job id and its output file. */
async function submit(name: string, nodes: number, config: string, trainArgs: string[], extraEnv: Record<string, string> = {}) {
  const clusterDir = path.join(root, `cluster-${name}`);
  clusters.push(clusterDir);
  const out = path.join(root, `${name}.out`);
  const env = { TROUPE_CLUSTER_DIR: clusterDir, TROUPE_JOB_NAME: name, ...extraEnv };
  const id = await slurm.sbatch([`--nodes=${nodes}`, `--output=${out}`, script, config, ...trainArgs], { cwd: repo, env });
  return { id, out };
}

/** Waits for the job's end; a job that does not end in time fails the test with its output so far. */
async function finished(job: { id: string; out: string }, timeoutMs: number) {
  return slurm.waitForEnd(job.id, timeoutMs).catch((err: Error) => {
    const out = existsSync(job.out) ? readFileSync(job.out, "utf8") : "(no output file)";
    throw new Error(`${err.message}; its output:\n${out}`, { cause: err });
  });
}

/** The rows of metrics.csv as objects (numbers where the cell is one). */
function metrics(runDir: string): Record<string, number>[] {
  const [head, ...rows] = readFileSync(path.join(runDir, "metrics.csv"), "utf8").trim().split("\n");
  const cols = head!.split(",");
  return rows.map((r) => Object.fromEntries(r.split(",").map((v, i) => [cols[i], v === "" ? NaN : Number(v)])));
}

/** The final checkpoint's file hashes: two runs that trained the same numbers have the same ones. */
function checkpointFiles(runDir: string): { step: string; files: Record<string, string> } {
  const step = readFileSync(path.join(runDir, "checkpoints", "latest"), "utf8").trim();
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", step, "manifest.json"), "utf8"));
  return { step, files: Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256])) };
}

describe.skipIf(skip !== undefined)("deploy/slurm/troupe.sbatch on a real Slurm (two slurmd on this machine)", () => {
  beforeAll(async () => {
    installSlurm();
    await slurm.start();
  }, 240_000);

  afterAll(async () => {
    await slurm.stop();
    for (const c of clusters) if (existsSync(path.join(c, "cluster.json"))) await troupe("down", "--cluster", c);
    rmSync(root, { recursive: true, force: true });
  }, 90_000);

  it("names the problem when run outside Slurm, or with a config that does not exist", async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SLURM_")));
    const outside = await exec("bash", [script, CONFIG], { cwd: repo, env }).catch((e: { code: number; stderr: string }) => e);
    expect("code" in outside ? outside.code : 0).toBe(2);
    expect(outside.stderr).toContain("not inside a Slurm allocation (SLURM_JOB_ID is not set)");

    const job = await submit("missing", 1, "examples/no-such-config.yaml", []);
    expect(await finished(job, 60_000)).toEqual({ state: "FAILED", exitCode: 2 });
    expect(readFileSync(job.out, "utf8")).toContain("training config 'examples/no-such-config.yaml' not found");
  }, 90_000);

  it("trains brown-dp2 on two nodes, one worker on each, exactly as a plain troupe cluster does", async () => {
    const runDir = path.join(root, "run-slurm");
    const job = await submit("dp2", 2, CONFIG, ["--steps", String(STEPS), "--no-samples", "--run-dir", runDir]);
    const end = await finished(job, 240_000);
    const out = readFileSync(job.out, "utf8");
    expect(end, out).toEqual({ state: "COMPLETED", exitCode: 0 });
    expect(out).toContain(`nodes n[1-2] (2), head n1 (127.0.0.1)`);
    expect(out).toContain(`finished at step ${STEPS}/${STEPS}`);
    expect(out).toContain("troupe train exited with 0");
    const workers = [...out.matchAll(/^dp2-w(\d)\s+\S+\s+(\S+)/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(workers)).toEqual({ "0": "n1", "1": "n2" });
    const clusterDir = path.join(root, "cluster-dp2");
    for (const n of ["n1", "n2"]) expect(readFileSync(path.join(clusterDir, "agents", `${n}.log`), "utf8")).toContain('"msg"');
    const natsPid = Number(/nats-server pid (\d+)/.exec(out)?.[1]);
    expect(natsPid).toBeGreaterThan(0);
    expect(() => process.kill(natsPid, 0), "troupe down stopped nats-server").toThrow();
    expect(existsSync(path.join(clusterDir, "cluster.json")), "troupe down removed the cluster").toBe(false);

    // the same config, the same steps, on a plain one-host cluster
    const refCluster = path.join(root, "cluster-ref");
    clusters.push(refCluster);
    const up = await troupe("up", "--cluster", refCluster, "--slots", "2", "--name", "solo");
    expect(up.code, up.stderr).toBe(0);
    const refDir = path.join(root, "run-ref");
    const ref = await troupe(
      "train",
      CONFIG,
      "--cluster",
      refCluster,
      "--name",
      "dp2",
      "--steps",
      String(STEPS),
      "--no-samples",
      "--run-dir",
      refDir,
    );
    expect(ref.code, ref.stderr).toBe(0);
    await troupe("down", "--cluster", refCluster);
    const slurmRows = metrics(runDir);
    expect(slurmRows.at(-1)!.step).toBe(STEPS);
    expect(slurmRows.map((r) => r.loss)).toEqual(metrics(refDir).map((r) => r.loss));
    expect(checkpointFiles(runDir)).toEqual(checkpointFiles(refDir));
  }, 540_000);

  it("stops the training job with a checkpoint on scancel --batch --signal=TERM, and exits 143", async () => {
    const runDir = path.join(root, "run-stop");
    // one node with both workers (TROUPE_SLOTS=2): the signal path is what is tested here
    const job = await submit("stopme", 1, CONFIG, ["--steps", "400", "--no-samples", "--run-dir", runDir], { TROUPE_SLOTS: "2" });
    await pollUntil(() => (existsSync(path.join(runDir, "metrics.csv")) && metrics(runDir).some((r) => r.step >= 2) ? true : undefined), {
      what: "the job's second step in metrics.csv",
      timeoutMs: 150_000,
      everyMs: 250,
    });
    await slurm.cmd("scancel", "--batch", "--signal=TERM", job.id);
    const end = await finished(job, 120_000);
    const out = readFileSync(job.out, "utf8");
    expect(end.exitCode, out).toBe(143);
    expect(out).toContain("SIGTERM: stopping job stopme");
    expect(out).toContain("troupe train exited with 143");
    expect(out).toMatch(/^stopme-w0 .* n1 /m);
    expect(out).toMatch(/^stopme-w1 .* n1 /m);
    const last = metrics(runDir).at(-1)!.step!;
    expect(last).toBeGreaterThanOrEqual(2);
    expect(last).toBeLessThan(400);
    expect(checkpointFiles(runDir).step).toBe(`step-${String(last).padStart(8, "0")}`);
  }, 300_000);
});
