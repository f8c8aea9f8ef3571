// A nats-server lost for good, across hosts: three network namespaces (netns.ts), each with a nats-server of one
// NATS cluster (routed, TLS, a JetStream store each) and a host agent; host1 also runs the services and the
// coordinators (0 slots), host2 and host3 one worker slot each. A dp-2 job puts a worker on host2 and one on host3.
// Mid-job, the nats-server leading JetStream's meta group and the actor records' stream (moved there by step-downs)
// is SIGKILLed and never restarted: every client that used it fails over to the other two, the R3 streams elect new
// leaders, and the job goes on without a restart to the final checkpoint of the failure-free run, file for file.
// `troupe ps`, `jobs` and `events` answer from the host whose server is gone, right after the loss and at the end,
// and the streams take writes with two of three servers, the lost one listed offline.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { delay, pollUntil } from "../../runtime/async.ts";
import { bin, type Host, jobYaml, NetCluster, Netns, netnsUnavailable, type ProbeWrite, type Run, tearDown } from "./netns.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";

const skip = netnsUnavailable();
if (skip) console.warn(`nats-loss test skipped: ${skip}`);

const STEPS = 24;
/** The server goes once this step is committed: the next is in flight. */
const KILL_AFTER = 3;
/** How long a `troupe train` follower may take, from submission to its exit. */
const FOLLOW_MS = 120_000;
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-natsloss-"));
const config = path.join(root, "nl.yaml");
const net = new Netns(3);
const cluster = new NetCluster(net, path.join(root, "cluster"), 1, { natsOnEveryHost: true });

/** The final checkpoint's file hashes: two runs that trained the same numbers have the same ones. */
function finalFiles(runDir: string): Record<string, string> {
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", `step-${String(STEPS).padStart(8, "0")}`, "manifest.json"), "utf8"));
  return Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256]));
}

async function workers(job: string, from: Host = cluster.head): Promise<{ id: string; host: string | null }[]> {
  const ps = await cluster.troupe(from, "ps", "--all", "--job", job, "--json", "--cluster", cluster.dir);
  expect(ps.code, `troupe ps on ${from.name}: ${ps.stderr}`).toBe(0);
  return (JSON.parse(ps.stdout) as { id: string; host: string | null }[]).filter((r) => new RegExp(`^${job}-w\\d+$`).test(r.id));
}

/** The cluster's events, read on host `from`. */
async function events(from: Host): Promise<{ type: string; subject: string; time: number; data: Record<string, unknown> }[]> {
  const r = await cluster.troupe(from, "events", "--json", "--cluster", cluster.dir);
  expect(r.code, `troupe events on ${from.name}: ${r.stderr}`).toBe(0);
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string; subject: string; time: number; data: Record<string, unknown> });
}

/** Submits the job from host1 and follows it; `atStep` runs once step KILL_AFTER is committed. */
function train(job: string, runDir: string, atStep?: () => void): Promise<{ code: number | null; out: string }> {
  const argv = [process.execPath, bin, "train", config, "--name", job, "--run-dir", runDir, "--no-samples", "--cluster", cluster.dir];
  const child = net.spawn(cluster.head, argv, "pipe");
  let out = "";
  let fired = false;
  const onData = (b: Buffer) => {
    out += b.toString();
    if (!fired && atStep && new RegExp(`^step ${KILL_AFTER}/`, "m").test(out)) {
      fired = true;
      atStep();
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  // bounded: a follower that does not see its job end fails the test with what it printed
  const timer = setTimeout(() => {
    out += `\n[the follower did not exit within ${FOLLOW_MS / 1000} s: killed]`;
    child.kill("SIGKILL");
  }, FOLLOW_MS);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
}

/** The server that logged last that it leads JetStream's meta group (nats-server's own log; no system account here). */
function metaLeader(): string | undefined {
  let best: { at: string; name: string } | undefined;
  const dir = path.join(cluster.dir, "nats");
  for (const name of readdirSync(dir)) {
    let log = "";
    try {
      log = readFileSync(path.join(dir, name, "nats-server.log"), "utf8");
    } catch {
      continue;
    }
    for (const m of log.matchAll(/^\[\d+\] (\S+ \S+) \[INF\] Self is new JetStream cluster metadata leader/gm))
      if (!best || m[1]! > best.at) best = { at: m[1]!, name };
  }
  return best?.name;
}

describe.skipIf(skip !== undefined)("a nats-server of a three-host NATS cluster lost for good", () => {
  let reference: Record<string, string> = {};

  beforeAll(async () => {
    writeFileSync(
      config,
      jobYaml({ name: "nl", seed: 7, steps: STEPS, parallel: { dp: 2, pp: 1, tp: 1 }, cacheDir: path.join(root, "data") }),
    );
    net.create();
    await cluster.up();
    expect(cluster.url.split(",")).toHaveLength(3);
    const runDir = path.join(root, "ref");
    const r = await train("ref", runDir);
    expect(r.code, r.out).toBe(0);
    expect((await workers("ref")).map((w) => w.host).sort()).toEqual(["host2", "host3"]);
    reference = finalFiles(runDir);
  }, 240_000);

  afterAll(() => tearDown(cluster, net, root), 60_000);

  it("SIGKILLs the meta leader, also leading the actor records' stream, mid-job: the job finishes equal to the failure-free run, the CLI and the R3 streams work on two servers", async () => {
    // every stream and bucket keeps three copies, all current (a peer of a bucket written a moment ago, such as the
    // hosts', may be a write behind when asked: current within seconds)
    const allCurrent = (ss: Awaited<ReturnType<typeof cluster.streams>>) => ss.every((s) => s.peers.every((p) => p.current));
    const before = await pollUntil(
      async () => {
        const ss = await cluster.streams();
        return allCurrent(ss) ? ss : undefined;
      },
      { what: "every stream's peers current", timeoutMs: 30_000, everyMs: 500 },
    ).catch(() => cluster.streams());
    expect(before.length, "streams before the loss").toBeGreaterThanOrEqual(5);
    for (const s of before) expect([s.name, s.replicas, s.peers.every((p) => p.current)]).toEqual([s.name, 3, true]);
    // the victim: the actor records' leader, made the meta leader's server too when the logs name it (the hardest
    // server to lose: both elections at once); a leader that steps down hands over to a random peer
    const meta = metaLeader();
    let actors = before.find((s) => s.name.endsWith("_actors"))!;
    let stepdowns = 0;
    for (; meta !== undefined && actors.leader !== meta && stepdowns < 10; stepdowns++) {
      const down = await cluster.probe(cluster.head, "stepdown", actors.name);
      expect(down.code, down.stderr).toBe(0);
      actors = await pollUntil(
        async () =>
          (await cluster.streams()).find((s) => s.name === actors.name && s.leader !== undefined && s.peers.every((p) => p.current)),
        { what: `${actors.name} led again after a step-down`, timeoutMs: 30_000, everyMs: 500 },
      );
    }
    const victim = net.hosts.find((h) => cluster.natsServerName(h) === actors.leader)!;
    expect(victim, `the actor records' leader ${actors.leader} is a host's server`).toBeDefined();
    const pid = cluster.natsServerPid(victim);
    console.log(
      `nats-loss: SIGKILL to ${victim.name}'s nats-server (pid ${pid}), leading the actor records (after ${stepdowns} step-downs); meta leader ${meta}`,
    );

    const runDir = path.join(root, "lost");
    let killedAt = 0;
    let whileElecting: Promise<Run[]> = Promise.resolve([]);
    const r = await train("lost", runDir, () => {
      process.kill(pid, "SIGKILL");
      killedAt = Date.now();
      // at once, while JetStream elects new leaders: asked from the host whose server is gone
      whileElecting = Promise.all([
        cluster.troupe(victim, "ps", "--json", "--cluster", cluster.dir),
        cluster.troupe(victim, "jobs", "--json", "--cluster", cluster.dir),
        cluster.troupe(victim, "events", "--json", "--cluster", cluster.dir),
      ]);
    });
    expect(r.code, r.out).toBe(0);
    for (const [i, x] of (await whileElecting).entries())
      expect(x.code, `troupe ${["ps", "jobs", "events"][i]} right after the loss: ${x.stderr}`).toBe(0);
    expect(killedAt, "the server was killed mid-job").toBeGreaterThan(0);
    expect(pidAlive(pid), "the lost server stays lost").toBe(false);

    // from the host whose own server is gone, through the other two: the CLI answers, the streams take writes
    const lost = cluster.natsServerName(victim);
    const [rows, jobs, evs, after, w] = await Promise.all([
      workers("lost", victim),
      cluster.troupe(victim, "jobs", "--json", "--cluster", cluster.dir),
      events(victim),
      cluster.streams(victim),
      cluster.probe(victim, "write"),
    ]);
    expect(rows.map((x) => x.host).sort()).toEqual(["host2", "host3"]);
    expect(jobs.code, jobs.stderr).toBe(0);
    expect((JSON.parse(jobs.stdout) as { id: string; state: string }[]).find((j) => j.id === "lost")).toMatchObject({ state: "completed" });

    // the job did not stop: every step committed once, in order, most after the loss; no worker restarted
    const commits = evs.filter((e) => e.type === "step.committed" && e.subject === "lost");
    expect(commits.map((e) => e.data.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    expect(commits.filter((e) => e.time > killedAt).length, "steps committed after the loss").toBeGreaterThan(STEPS - KILL_AFTER - 3);
    const restarts = evs.filter((e) => e.type === "actor.transition" && e.subject.startsWith("lost-") && e.data.to === "restarting");
    expect(restarts.map((e) => e.subject)).toEqual([]);
    expect(finalFiles(runDir)).toEqual(reference);

    // the R3 streams: led by a survivor, the lost server listed offline (or not current); they took the writes. A
    // leader elected after the loss may list the lost peer current until it has gone unanswered for a while (seen on
    // an idle bucket): asked again for up to 30 s
    const lostListed = (ss: typeof after) =>
      ss
        .filter((x) => before.some((b) => b.name === x.name))
        .every((s) => s.leader !== lost && s.peers.some((p) => p.name === lost && (p.offline || !p.current)));
    let streams = after;
    for (const end = Date.now() + 30_000; !lostListed(streams) && Date.now() < end;) {
      await delay(1000);
      streams = await cluster.streams(victim);
    }
    expect(streams.map((s) => s.name)).toEqual(expect.arrayContaining(before.map((s) => s.name)));
    for (const s of streams.filter((x) => before.some((b) => b.name === x.name))) {
      expect(s.replicas, s.name).toBe(3);
      expect(s.leader, `${s.name} led by a survivor`).not.toBe(lost);
      const peer = s.peers.find((p) => p.name === lost);
      expect(peer, `${s.name} lists ${lost}`).toBeDefined();
      expect(peer!.offline || !peer!.current, `${s.name}: ${JSON.stringify(peer)}`).toBe(true);
    }
    expect(w.code, w.stderr).toBe(0);
    const wrote = JSON.parse(w.stdout) as ProbeWrite;
    expect(wrote.kv).toBe("written with a server of the cluster lost");
    expect(wrote.logSeq).toBeGreaterThan(0);
  }, 240_000);
});
