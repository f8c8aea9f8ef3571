// Whole-host loss and a partition, for real: four network namespaces (netns.ts). host1 runs nats-server, the services
// and the coordinators (0 slots) and is never touched; host2, host3 and host4 run agents of 2 slots. A 2×1×2 job
// puts replica 0 (a tensor pair) on host2 and replica 1 on host3; host4 is the spare. Mid-run, host3 loses power
// (its link taken down, every process of its namespace SIGKILLed), or is cut off (link down) and later plugged back.
// Either way the job goes on with replacements on host4, restored from the live replica on host2, and ends with the
// final checkpoint of the failure-free run, file for file. Cut off, the isolated workers are fenced: none survives
// the cut once the link is back, and every committed step comes from the majority side, once.
import { readFileSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../runtime/async.ts";
import { bin, jobYaml, NetCluster, Netns, netnsUnavailable, tearDown } from "./netns.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";

const skip = netnsUnavailable();
if (skip) console.warn(`host-loss test skipped: ${skip}`);

const STEPS = 14;
/** The loss comes once this step is committed: the next is in flight. */
const CUT_AFTER = 3;
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-hostloss-"));
const config = path.join(root, "hl.yaml");
const net = new Netns(4);
const cluster = new NetCluster(net, path.join(root, "cluster"), 2);

const yaml = jobYaml({ name: "hl", seed: 7, steps: STEPS, parallel: { dp: 2, pp: 1, tp: 2 }, cacheDir: path.join(root, "data") });

interface Row {
  id: string;
  host: string | null;
  pid: number | null;
  coords: { d: number; p: number; t: number } | null;
}

/** The final checkpoint's file hashes: two runs that trained the same numbers have the same ones. */
function finalFiles(runDir: string): Record<string, string> {
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", `step-${String(STEPS).padStart(8, "0")}`, "manifest.json"), "utf8"));
  return Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256]));
}

async function workers(job: string): Promise<Row[]> {
  const ps = await cluster.troupe(cluster.head, "ps", "--all", "--job", job, "--json", "--cluster", cluster.dir);
  return (JSON.parse(ps.stdout || "[]") as Row[]).filter((r) => new RegExp(`^${job}-w\\d+$`).test(r.id));
}

/** Events of one type from the cluster's log (read on host1). */
async function events(type: string): Promise<{ subject: string; time: number; data: Record<string, unknown> }[]> {
  const r = await cluster.troupe(cluster.head, "events", "--json", "--cluster", cluster.dir);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string; subject: string; time: number; data: Record<string, unknown> })
    .filter((e) => e.type === type);
}

/**
 * Submits the job from host1 and follows it; `atStep` runs once step CUT_AFTER is committed. Resolves with the
 * follower's exit code and output.
 */
function train(job: string, runDir: string, atStep?: () => Promise<void> | void): Promise<{ code: number | null; out: string }> {
  const argv = [process.execPath, bin, "train", config, "--name", job, "--run-dir", runDir, "--no-samples", "--cluster", cluster.dir];
  const child = net.spawn(cluster.head, argv, "pipe");
  let out = "";
  let fired = false;
  let hook: Promise<void> = Promise.resolve();
  const onData = (b: Buffer) => {
    out += b.toString();
    if (!fired && atStep && new RegExp(`^step ${CUT_AFTER}/`, "m").test(out)) {
      fired = true;
      hook = Promise.resolve(atStep());
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  return new Promise((resolve, reject) =>
    child.once("exit", (code) => {
      hook.then(() => resolve({ code, out }), reject);
    }),
  );
}

describe.skipIf(skip !== undefined)("a worker host lost or cut off", () => {
  const host3 = net.host(3);
  let reference: Record<string, string> = {};

  beforeAll(async () => {
    writeFileSync(config, yaml);
    net.create();
    await cluster.up();
    const runDir = path.join(root, "ref");
    const r = await train("ref", runDir);
    expect(r.code, r.out).toBe(0);
    const rows = await workers("ref");
    expect(rows.filter((w) => w.coords!.d === 0).map((w) => w.host)).toEqual(["host2", "host2"]);
    expect(rows.filter((w) => w.coords!.d === 1).map((w) => w.host)).toEqual(["host3", "host3"]);
    reference = finalFiles(runDir);
  }, 420_000);

  afterAll(() => tearDown(cluster, net, root), 60_000);

  it("cuts host3 off mid-step and plugs it back: its workers are fenced and exit, the majority side finishes equal", async () => {
    // first of the two: host3 still has the agent the cluster started, so nothing has to come back before it
    const runDir = path.join(root, "cut");
    const r = await train("cut", runDir, async () => {
      net.link(host3, "down");
      // plugged back once the majority side has replaced both (a new epoch), well before host3's agent would stop
      // them as orphans (60 s without their supervisor)
      await pollUntil(
        async () => {
          const restarted = (await events("actor.transition")).filter((e) => /^cut-w[23]$/.test(e.subject) && e.data.to === "restarting");
          return new Set(restarted.map((e) => e.subject)).size === 2 ? true : undefined;
        },
        { what: "replica 1 taken for lost", timeoutMs: 40_000, everyMs: 500 },
      );
      net.link(host3, "up");
    });
    expect(r.code, r.out).toBe(0);
    // the isolated workers: the processes that ran replica 1 on host3 when it was cut off
    const alives = (await events("actor.transition")).filter((e) => /^cut-w[23]$/.test(e.subject) && e.data.to === "alive");
    const isolated = ["cut-w2", "cut-w3"].map((id) => alives.find((e) => e.subject === id)!).map((e) => e.data.pid as number);
    expect(alives.filter((e) => isolated.includes(e.data.pid as number)).every((e) => e.data.host === "host3")).toBe(true);
    expect(isolated).toHaveLength(2);
    // fenced: back in touch, each is stopped by whichever comes first, the supervisor's SIGKILL (asked when it took the
    // worker for dead, delivered to host3's agent once the link is back) or a request of an epoch it never joined
    // (it exits with code 75 without answering)
    await pollUntil(async () => (isolated.every((pid) => !pidAlive(pid)) ? true : undefined), {
      what: `the isolated workers ${isolated.join(", ")} gone`,
      timeoutMs: 60_000,
      everyMs: 500,
    });
    const exits = cluster.exits(host3).filter((x) => isolated.includes(x.pid));
    expect(exits).toHaveLength(2);
    for (const x of exits) expect(x.code === 75 || x.signal === "SIGKILL", JSON.stringify(x)).toBe(true);
    const rows = await workers("cut");
    // replaced: on the spare host, or back on host3 when the link was up again before the replacement was started
    for (const w of rows.filter((x) => x.coords!.d === 1)) expect(isolated).not.toContain(w.pid);
    // only the majority side committed: every step once, in order
    const commits = (await events("step.committed")).filter((e) => e.subject === "cut");
    expect(commits.map((e) => e.data.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    expect(finalFiles(runDir)).toEqual(reference);
  }, 480_000);

  it("loses host3 mid-step (power off: link down, every process SIGKILLed) and finishes on host4 equal to the failure-free run", async () => {
    // after the partition: host3's agent is the same process, in touch again since the link came back
    const runDir = path.join(root, "lost");
    let killed = 0;
    const r = await train("lost", runDir, () => {
      net.link(host3, "down");
      killed = net.killAll(host3);
    });
    expect(r.code, r.out).toBe(0);
    expect(killed).toBeGreaterThanOrEqual(3); // the agent and replica 1's two workers, at least
    const rows = await workers("lost");
    expect(rows.filter((w) => w.coords!.d === 1).map((w) => w.host)).toEqual(["host4", "host4"]);
    expect(rows.filter((w) => w.coords!.d === 0).map((w) => w.host)).toEqual(["host2", "host2"]);
    const restored = (await events("worker.restored")).filter((e) => e.subject.startsWith("lost-"));
    expect(restored.length).toBe(2);
    for (const e of restored) expect(e.data.source, JSON.stringify(e.data)).toBe("peer");
    expect(finalFiles(runDir)).toEqual(reference);
  }, 420_000);
});
