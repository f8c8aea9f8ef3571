// A NATS cluster spread over "hosts", on loopback: `troupe up --routes` runs the first server (and waits for the
// other), `troupe nats-server` the second from the same cluster directory (as a shared filesystem would have it),
// with TLS on clients and routes. `up` completes only once JetStream can place streams on both; the commands work.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import { readClusterInfo, readToken } from "../../cli/cluster/cluster-file.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { namespace } from "../../runtime/namespace.ts";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-nats-hosts-"));
const cluster = path.join(root, ".troupe");
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function start(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [bin, ...args, "--cluster", cluster], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { child, out: () => out, exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
}

afterAll(async () => {
  const down = await run(process.execPath, [bin, "down", "--cluster", cluster], { cwd: repo }).catch((err: Error) => err);
  if (down instanceof Error) console.error(down.message);
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("troupe up --routes and troupe nats-server", { timeout: 180_000 }, () => {
  it("the first server waits for the second; together they hold R2 streams over mutual-TLS routes", async () => {
    const [client1, route1, client2, route2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const up = start([
      "up",
      "--tls",
      "--listen",
      `127.0.0.1:${client1}`,
      "--routes",
      `127.0.0.1:${route2}`,
      "--route-port",
      String(route1),
    ]);
    await pollUntil(() => (/waiting for the other nats-servers/.test(up.out()) ? true : undefined), {
      what: "up waiting for the other server",
      timeoutMs: 60_000,
    });
    expect(existsSync(path.join(cluster, "tls", "server-key.pem"))).toBe(true);
    const second = start([
      "nats-server",
      "--listen",
      `127.0.0.1:${client2}`,
      "--routes",
      `127.0.0.1:${route1}`,
      "--route-port",
      String(route2),
    ]);
    expect(await up.exited, up.out()).toBe(0);
    expect(second.out()).toMatch(new RegExp(`nats-server 127\\.0\\.0\\.1-${client2} listening on nats://127\\.0\\.0\\.1:${client2} .*TLS`));

    const info = readClusterInfo(cluster);
    expect(info.natsServers.map((s) => s.name)).toEqual([`127.0.0.1-${client1}`]);
    const nc = await connectNats({
      url: `nats://127.0.0.1:${client2}`,
      token: readToken(info.tokenFile),
      caFile: info.caFile!,
      waitOnFirstConnect: false,
    });
    try {
      const jsm = await jetstreamManager(nc);
      const actors = await jsm.streams.info(`KV_${namespace(info.clusterId).actorsBucket}`);
      expect(actors.config.num_replicas).toBe(2);
      expect([actors.cluster?.leader, ...(actors.cluster?.replicas ?? []).map((r) => r.name)].sort()).toEqual(
        [`127.0.0.1-${client1}`, `127.0.0.1-${client2}`].sort(),
      );
    } finally {
      await nc.close();
    }
    const hosts = await run(process.execPath, [bin, "ps", "--hosts", "--json", "--cluster", cluster], { cwd: repo });
    expect((JSON.parse(hosts.stdout) as unknown[]).length).toBe(1);
    const secondPid = Number(/\(pid (\d+);/.exec(second.out())![1]);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(pidAlive(secondPid)).toBe(false);
    expect(pidAlive(info.natsServers[0]!.pid)).toBe(true);
  });
});
