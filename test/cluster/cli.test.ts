// The CLI end to end against a real `troupe up` cluster (nats-server, agent, supervisor, actors).
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import type { ActorRecord } from "../../runtime/types.ts";
import { readClusterInfo } from "../../cli/cluster/cluster-file.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";
import { repoRoot } from "./harness.ts";

const run = promisify(execFile);
// bin/troupe.js loads every area's commands; test/cluster/runtime-cli.ts registers only ours.
const troupeArgv = ["--import", "tsx", path.join(repoRoot, "test", "cluster", "runtime-cli.ts")];

async function troupe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [...troupeArgv, ...args], { cwd: repoRoot, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// Each CLI call starts Node + tsx: seconds on a loaded 2-core machine, hence the long timeouts.
describe("troupe up / ps / kill / inspect / events / logs / restart / down", { timeout: 120_000 }, () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "troupe-cli-"));
  const dir = path.join(tmp, "cluster");
  const c = ["--cluster", dir];

  async function ps(): Promise<ActorRecord[]> {
    const r = await troupe("ps", ...c, "--json");
    expect(r.stderr).toBe("");
    return JSON.parse(r.stdout) as ActorRecord[];
  }
  async function until(pred: (rs: ActorRecord[]) => boolean, ms = 60_000): Promise<ActorRecord[]> {
    const deadline = Date.now() + ms;
    let rs = await ps();
    while (!pred(rs) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      rs = await ps();
    }
    return rs;
  }

  beforeAll(async () => {
    const r = await troupe("up", "--cluster", dir, "--actors", "2", "--name", "testhost", "--json");
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    if (existsSync(path.join(dir, "cluster.json"))) {
      const info = readClusterInfo(dir);
      await troupe("down", "--cluster", dir);
      for (const pid of [info.natsPid, info.agentPid, info.supervisorPid]) if (pidAlive(pid)) process.kill(pid!, "SIGKILL");
    }
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it("writes credentials mode 0600 and the server refuses clients without them", async () => {
    const info = readClusterInfo(dir);
    expect(statSync(info.tokenFile).mode & 0o777).toBe(0o600);
    await expect(connect({ servers: info.url, timeout: 2000 })).rejects.toThrow(/Authorization Violation/);
    const r = await troupe("ps", "--nats", info.url, "--cluster-id", "local");
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^troupe: cannot reach nats-server .*Authorization Violation/);
  });

  it("kill -9 through the CLI: the supervisor brings the actor back, visible in ps, inspect and events", async () => {
    const before = await until((rs) => rs.length === 2 && rs.every((r) => r.state === "alive"));
    expect(before.map((r) => [r.id, r.state, r.host])).toEqual([
      ["a0", "alive", "testhost"],
      ["a1", "alive", "testhost"],
    ]);
    const k = await troupe("kill", "a1", ...c, "--json");
    expect(k.code, k.stderr).toBe(0);
    expect(JSON.parse(k.stdout)).toMatchObject({ actor: "a1", pid: before[1]!.pid, signal: "SIGKILL" });
    const after = await until((rs) => rs[1]!.state === "alive" && rs[1]!.pid !== before[1]!.pid);
    expect(after[1]!.restarts).toBe(1);
    expect(after[0]!.pid).toBe(before[0]!.pid);

    const hosts = await troupe("ps", "--hosts", ...c);
    expect(hosts.stdout).toMatch(/^HOST\s+SLOTS\s+TIER/);
    expect(hosts.stdout).toMatch(/testhost\s+\d+\s+default\s+\d+\s+a0,a1|testhost\s+\d+\s+default\s+\d+\s+a1,a0/);
    const table = await troupe("ps", ...c);
    expect(table.stdout).toMatch(/^ACTOR\s+COORDS\s+HOST\s+PID\s+STATE\s+RESTARTS\s+STEP\s+HEARTBEAT/);
    expect(table.stdout).toMatch(/a1\s+d1\s+testhost\s+\d+\s+alive\s+1/);

    const inspect = JSON.parse((await troupe("inspect", "a1", ...c, "--json")).stdout) as {
      record: ActorRecord;
      transitions: { state: string }[];
    };
    expect(inspect.record.deathCause).toBe("killed by SIGKILL");
    expect(inspect.record.snapshot).toMatchObject({ value: "alive", context: { restarts: 1 } });
    expect(inspect.transitions.map((t) => t.state)).toEqual(["pending", "starting", "alive", "failed", "restarting", "starting", "alive"]);

    const events = (await troupe("events", ...c, "--json", "--actor", "a1")).stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["operator.kill", "process.exited", "actor.transition"]));

    const logs = await troupe("logs", "a1", ...c);
    expect(logs.stdout.match(/actor started/g)?.length).toBe(2);
  });

  it("ps --watch --json streams record changes live", async () => {
    const watcher = spawn(process.execPath, [...troupeArgv, "ps", "--watch", "--json", ...c], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const seen: ActorRecord[] = [];
    watcher.stdout!.on("data", (d: Buffer) => {
      for (const l of d.toString().split("\n")) if (l.trim()) seen.push(JSON.parse(l) as ActorRecord);
    });
    try {
      const deadline = Date.now() + 60_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const pid = seen.find((r) => r.id === "a0")!.pid;
      expect((await troupe("kill", "a0", ...c)).code).toBe(0);
      while (!seen.some((r) => r.id === "a0" && r.state === "alive" && r.pid !== pid) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const states = seen.filter((r) => r.id === "a0").map((r) => r.state);
      expect(states).toEqual(expect.arrayContaining(["failed", "restarting", "starting"]));
      expect(states.at(-1)).toBe("alive");
    } finally {
      watcher.kill("SIGINT");
    }
  });

  it("restart through the supervisor; unknown actors get a one-line error", async () => {
    const before = (await ps())[0]!;
    const r = await troupe("restart", "a0", ...c);
    expect(r.code, r.stderr).toBe(0);
    const after = await until((rs) => rs[0]!.state === "alive" && rs[0]!.pid !== before.pid);
    // an operator restart is not a failure: the last death cause stays what it was
    expect(after[0]!.deathCause).toBe(before.deathCause);
    expect(after[0]!.restarts).toBe(before.restarts + 1);
    const bads = await Promise.all(
      [
        ["inspect", "zz"],
        ["kill", "zz"],
        ["restart", "zz"],
        ["logs", "zz"],
      ].map((cmd) => troupe(...cmd, ...c)),
    );
    for (const bad of bads) {
      expect(bad.code).not.toBe(0);
      expect(bad.stderr.trim()).toBe("troupe: unknown actor 'zz' (see `troupe ps` for the actor ids)");
    }
    const sig = await troupe("kill", "a0", "--signal", "NOPE", ...c);
    expect(sig.stderr.trim()).toBe("troupe: unknown signal 'NOPE' (try KILL, TERM, STOP, CONT)");
  });

  it("down stops every process it started", async () => {
    const info = readClusterInfo(dir);
    const actorPids = (await ps()).map((r) => r.pid!);
    const r = await troupe("down", "--cluster", dir);
    expect(r.code, r.stderr).toBe(0);
    for (const pid of [info.natsPid, info.agentPid, info.supervisorPid, ...actorPids]) expect(pidAlive(pid)).toBe(false);
    const gone = await troupe("ps", ...c);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/^troupe: no cluster in /);
  });
});
