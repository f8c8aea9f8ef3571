// `troupe up --tls --nats-servers 2`: a cluster CA and server certificate in <dir>/tls (keys mode 0600), both
// real nats-servers requiring TLS from clients and mutual TLS on their routes. A plain client is refused, a TLS
// client that does not know the CA is refused, one with the CA and a role's credentials works, and so do the
// commands, from the cluster directory or from a copy of creds/ and tls/ (`--nats … --creds`, CA found beside).
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import os from "node:os";
import path from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readClusterInfo, readToken, type ClusterInfo } from "../../cli/cluster/cluster-file.ts";
import { pollUntil } from "../../runtime/async.ts";
import { decode } from "../../runtime/codec.ts";
import { connectNats } from "../../runtime/connection.ts";
import { LOOP_AT, sharedHeartbeatState, startHeartbeatThread } from "../../runtime/heartbeat-thread.ts";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-nats-tls-"));
const cluster = path.join(root, ".troupe");

async function troupe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [path.join(repo, "bin/troupe.js"), ...args], { cwd: repo, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** What a client that speaks plain NATS gets: the server's INFO, then its answer to CONNECT and PING. */
function plainExchange(port: number, user: string, pass: string): Promise<{ info: Record<string, unknown>; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1");
    let text = "";
    let info: Record<string, unknown> | undefined;
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (!info && text.includes("\r\n")) {
        info = JSON.parse(text.slice(5, text.indexOf("\r\n"))) as Record<string, unknown>;
        text = "";
        socket.write(`CONNECT ${JSON.stringify({ verbose: false, user, pass })}\r\nPING\r\n`);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => (info ? resolve({ info, reply: text }) : reject(new Error("closed before INFO"))));
    setTimeout(() => socket.destroy(), 10_000);
  });
}

/** A TLS handshake on a route port without a client certificate: the server's verdict. */
function routeWithoutClientCert(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const plain = tcpConnect(port, "127.0.0.1", () => {
      const s = tlsConnect({ socket: plain, ca, host: "127.0.0.1" });
      s.on("error", (err) => resolve(`error: ${err.message}`));
      s.on("data", (d: Buffer) => resolve(`data: ${d.toString()}`));
      s.on("close", () => resolve("closed"));
    });
    plain.once("data", () => undefined); // the route's INFO, in the clear
    plain.on("error", (err) => resolve(`error: ${err.message}`));
  });
}

let info: ClusterInfo;

beforeAll(async () => {
  const up = await troupe("up", "--tls", "--nats-servers", "2", "--actors", "1", "--cluster", cluster);
  expect(up.stderr).toBe("");
  expect(up.code).toBe(0);
  expect(up.stdout).toContain(`tls          clients verify the servers with ${path.join(cluster, "tls", "ca.pem")}`);
  info = readClusterInfo(cluster);
}, 150_000);

afterAll(async () => {
  await troupe("down", "--cluster", cluster);
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("a TLS cluster", { timeout: 120_000 }, () => {
  it("keys are private; the certificate names the loopback addresses and is signed by the cluster CA", () => {
    const tls = path.join(cluster, "tls");
    expect(info.caFile).toBe(path.join(tls, "ca.pem"));
    expect(statSync(tls).mode & 0o777).toBe(0o700);
    for (const key of ["ca-key.pem", "server-key.pem"]) expect(statSync(path.join(tls, key)).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(path.join(tls, "server.pem")));
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(cert.subjectAltName).toContain("DNS:localhost");
    expect(cert.verify(new X509Certificate(readFileSync(info.caFile!)).publicKey)).toBe(true);
  });

  it("a plain client is refused; a TLS client without the CA is refused; with the CA and credentials it works", async () => {
    const [user, pass] = readToken(info.tokenFile).split(":") as [string, string];
    for (const s of info.natsServers) {
      const plain = await plainExchange(Number(new URL(s.url).port), user, pass);
      expect(plain.info.tls_required).toBe(true);
      expect(plain.reply).not.toContain("PONG");
    }
    await expect(connectNats({ url: info.url, token: readToken(info.tokenFile), waitOnFirstConnect: false })).rejects.toThrow(
      /cannot reach nats-server .*(certificate|self.signed)/i,
    );
    const nc = await connectNats({ url: info.url, token: readToken(info.tokenFile), caFile: info.caFile!, waitOnFirstConnect: false });
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();
  });

  it("routes require TLS with a client certificate of the cluster", async () => {
    const conf = readFileSync(path.join(cluster, "nats", "n1", "nats-server.conf"), "utf8");
    expect(conf).toMatch(/cluster \{[^}]*tls \{[^}]*verify: true/s);
    const routePort = Number(/cluster \{\s*name: "troupe"\s*listen: "127\.0\.0\.1:(\d+)"/.exec(conf)![1]);
    const verdict = await routeWithoutClientCert(routePort, readFileSync(info.caFile!));
    expect(verdict).not.toMatch(/^data: INFO/);
    expect(verdict).toMatch(/error|closed/);
  });

  it("an actor's heartbeat thread upgrades to TLS with the CA, skipping a server that is gone", async () => {
    const nc = await connectNats({ url: info.url, token: readToken(info.tokenFile), caFile: info.caFile!, waitOnFirstConnect: false });
    const sub = nc.subscribe("troupe.local.hb-test", { max: 1 });
    await nc.flush();
    const shared = sharedHeartbeatState();
    shared[LOOP_AT] = Date.now() + 600_000; // a main loop that turns "now" for the length of the test
    const thread = startHeartbeatThread({
      shared,
      natsUrl: `nats://127.0.0.1:1,${info.url}`,
      caFile: info.caFile!,
      token: readToken(path.join(cluster, "creds", "worker")),
      actorId: "hb-test",
      subject: "troupe.local.hb-test",
      heartbeatMs: 100,
      stallMs: 60_000,
    });
    try {
      const failed = new Promise<never>((_, reject) =>
        thread.on("message", (m: { op: string; why?: string }) => m.op === "failed" && reject(new Error(m.why))),
      );
      const beat = (async () => {
        for await (const m of sub) return decode(m.data) as { actorId: string };
      })();
      expect(await Promise.race([beat, failed])).toMatchObject({ actorId: "hb-test" });
    } finally {
      await thread.terminate();
      await nc.close();
    }
  });

  it("the commands work from the cluster directory and from a copy of creds/ and tls/ (--creds, --token-file)", async () => {
    // the demo supervisor's actor, started through the agent, connects over TLS with the CA it was handed
    await pollUntil(
      async () => {
        const ps = await troupe("ps", "--cluster", cluster, "--json");
        expect(ps.stderr).toBe("");
        return (JSON.parse(ps.stdout) as { id: string; state: string }[]).find((a) => a.id === "a0" && a.state === "alive");
      },
      { what: "a0 alive", timeoutMs: 60_000, everyMs: 500 },
    );
    const copy = path.join(root, "elsewhere");
    mkdirSync(copy, { mode: 0o700 });
    cpSync(path.join(cluster, "creds"), path.join(copy, "creds"), { recursive: true });
    mkdirSync(path.join(copy, "tls"));
    cpSync(info.caFile!, path.join(copy, "tls", "ca.pem"));
    for (const flag of ["--creds", "--token-file"]) {
      const hosts = await troupe("ps", "--hosts", "--nats", info.url, flag, path.join(copy, "creds", "operator"), "--json");
      expect(hosts.stderr).toBe("");
      expect(hosts.code).toBe(0);
      expect((JSON.parse(hosts.stdout) as unknown[]).length).toBe(1);
    }
    const missing = await troupe(
      "ps",
      "--nats",
      info.url,
      "--creds",
      path.join(copy, "creds", "operator"),
      "--ca",
      path.join(root, "nope.pem"),
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`troupe: --ca ${path.join(root, "nope.pem")}: no such file\n`);
  });
});
