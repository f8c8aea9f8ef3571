// `troupe up --nats-servers 3`: three real nats-servers joined by routes, every stream and KV bucket with three
// copies (asked of JetStream), and one server SIGKILLed for good while a small job trains: the job goes on to its
// last step and `troupe ps` and `troupe jobs` still answer, through the two servers left.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobStore } from "../../actors/coordinator/job-store.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";
import { readClusterInfo, readToken, type ClusterInfo } from "../../cli/cluster/cluster-file.ts";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { tinyDp2Yaml } from "../distributed/fixtures/tiny-job-yaml.ts";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-nats-cluster-"));
const cluster = path.join(root, ".troupe");
const config = path.join(root, "tiny-dp2.yaml");
// long enough that the server goes mid-job on a fast machine too (a few ms a step)
const STEPS = 200;

async function troupe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [path.join(repo, "bin/troupe.js"), ...args, "--cluster", cluster], {
      cwd: repo,
      timeout: 180_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let info: ClusterInfo;
let nc: NatsConnection;

beforeAll(async () => {
  writeFileSync(config, tinyDp2Yaml({ name: "nc3", steps: STEPS, evalEvery: 50, checkpointEvery: 50 }));
  const up = await troupe("up", "--nats-servers", "3");
  expect(up.stderr).toBe("");
  expect(up.code).toBe(0);
  info = readClusterInfo(cluster);
  nc = await connectNats({ url: info.url, token: readToken(info.tokenFile), name: "nats-cluster-test" });
}, 150_000);

afterAll(async () => {
  await nc?.close();
  await troupe("down");
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("a NATS cluster of three servers", { timeout: 480_000 }, () => {
  it("cluster.json lists the three client URLs; one server killed for good mid-job: the job completes, ps and jobs answer", async () => {
    expect(info.natsServers.map((s) => s.name)).toEqual(["n1", "n2", "n3"]);
    expect(info.url.split(",")).toEqual(info.natsServers.map((s) => s.url));

    const ns = namespace(info.clusterId);
    const store = await JobStore.open(nc, ns, await EventLog.open(nc, ns));
    const s = await troupe("train", config, "--detach", "--name", "nc3", "--run-dir", path.join(root, "nc3"), "--no-samples");
    expect(s.code).toBe(0);
    await pollUntil(async () => (((await store.latest("nc3"))?.step ?? 0) >= 3 ? true : undefined), {
      what: "nc3 stepping",
      timeoutMs: 120_000,
    });

    // every stream and bucket there now (the cluster's, the job's) keeps three copies
    const jsm = await jetstreamManager(nc);
    const streams = await jsm.streams.list().next();
    expect(streams.map((si) => si.config.name)).toEqual(
      expect.arrayContaining([ns.eventsStream, `KV_${ns.actorsBucket}`, `KV_${ns.jobsBucket}`]),
    );
    for (const si of streams) expect([si.config.name, si.config.num_replicas]).toEqual([si.config.name, 3]);

    // the leader of the actor records' stream goes: the hardest server to lose
    const leader = (await jsm.streams.info(`KV_${ns.actorsBucket}`)).cluster?.leader;
    const victim = info.natsServers.find((x) => x.name === leader)!;
    expect(victim).toBeDefined();
    // the step committed before the kill: the job must commit more after it (a read after the kill could come
    // when the job had already finished, and wait for steps that never come)
    const at = (await store.latest("nc3"))?.step ?? 0;
    expect(at).toBeLessThan(STEPS - 10);
    process.kill(victim.pid, "SIGKILL");
    await pollUntil(() => (pidAlive(victim.pid) ? undefined : true), { what: "the server gone", timeoutMs: 10_000 });
    await pollUntil(async () => (((await store.latest("nc3"))?.step ?? 0) > at + 2 ? true : undefined), {
      what: "nc3 stepping on without the server",
      timeoutMs: 90_000,
    });

    const attach = await troupe("attach", "nc3", "--progress", "lines");
    expect(attach.stderr).toBe("");
    expect(attach.stdout).toMatch(new RegExp(`finished at step ${STEPS}/${STEPS}`));
    expect(attach.code).toBe(0);
    const jobs = await troupe("jobs", "--json");
    expect(jobs.code).toBe(0);
    expect((JSON.parse(jobs.stdout) as { id: string; state: string }[]).find((j) => j.id === "nc3")).toMatchObject({ state: "completed" });
    const ps = await troupe("ps", "--job", "nc3", "--json");
    expect(ps.code).toBe(0);
    expect((JSON.parse(ps.stdout) as { id: string }[]).map((a) => a.id)).toEqual(expect.arrayContaining(["nc3-w0", "nc3-w1"]));
    expect(pidAlive(victim.pid)).toBe(false);
  });
});
