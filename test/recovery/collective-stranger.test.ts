// A stranger at a worker's collective port, in a real dp 2 job: it watches the rendezvous bucket for the job's
// addresses and connects to each the moment it is published (while the mesh forms), sending garbage, a hello with
// a wrong key, or nothing. The workers drop it (auth-handshake.ts) and the job ends bit-identical to a run without it.
import { Kvm } from "@nats-io/kv";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialHandshake } from "../../runtime/collectives/auth-handshake.ts";
import { DEFAULT_RENDEZVOUS_BUCKET, newCollectiveKey } from "../../runtime/collectives/mod.ts";
import { fingerprint, runJob, writeTinyConfig } from "./fixtures.ts";
import { startSharedCluster, type SharedCluster } from "./shared-cluster.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-stranger-"));
let cluster: SharedCluster;
beforeAll(async () => {
  cluster = await startSharedCluster("recstranger", 2);
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** What one stranger connection saw: whether it reached a listener that challenged it, and that it was closed. */
interface Attempt {
  kind: "garbage" | "wrong-key" | "silent";
  challenged: boolean;
  ended: Promise<void>;
}

/** Connects to `address` and misbehaves in one of three ways; `ended` resolves once the socket is closed or refused. */
function attack(host: string, port: number, session: string, rank: number, kind: Attempt["kind"]): Attempt {
  const socket = net.connect(port, host);
  const a: Attempt = { kind, challenged: false, ended: new Promise((resolve) => socket.once("close", () => resolve())) };
  socket.on("error", () => {});
  if (kind === "wrong-key") {
    socket.once("connect", () => {
      dialHandshake(socket, { key: newCollectiveKey(), session, rank: rank + 1, peer: rank, timeoutMs: 10_000 }).catch(() => {});
    });
    socket.once("data", () => (a.challenged = true)); // dialHandshake reads the challenge too
  } else {
    socket.on("data", () => (a.challenged = true));
    if (kind === "garbage") socket.once("connect", () => socket.write(Buffer.from("\x05\0\0\0\x04\0\0\0hellohack")));
  }
  return a;
}

describe("a stranger at a worker's collective port", () => {
  it("is dropped while the mesh forms; the dp 2 job ends bit-identical to a run without it", async () => {
    const configFile = writeTinyConfig(root, { name: "stranger", dp: 2, pp: 1, tp: 1, steps: 3 });
    const baseline = await runJob(configFile, path.join(root, "baseline"), { cluster });

    const kv = await new Kvm(cluster.nc).create(DEFAULT_RENDEZVOUS_BUCKET, { history: 1, ttl: 24 * 3600 * 1000 });
    const watch = await kv.watch({ key: ">", include: "updates" });
    const attempts: Attempt[] = [];
    const watching = (async () => {
      for await (const e of watch) {
        const m = /^(stranger-[0-9a-f]+-e\d+)\.(\d+)$/.exec(e.key);
        if (!m || e.operation !== "PUT") continue;
        const text = e.string();
        const host = text.slice(0, text.lastIndexOf(":"));
        const port = Number(text.slice(text.lastIndexOf(":") + 1));
        for (const kind of ["garbage", "wrong-key", "silent"] as const) attempts.push(attack(host, port, m[1]!, Number(m[2]), kind));
      }
    })();
    const attacked = await runJob(configFile, path.join(root, "attacked"), { cluster });
    watch.stop();
    await watching;

    expect(fingerprint(attacked)).toEqual(fingerprint(baseline));
    expect(attempts.length).toBeGreaterThanOrEqual(6); // two ranks published, three strangers each
    await Promise.all(attempts.map((a) => a.ended)); // every stranger's socket was closed (or refused)
    // the listeners were still forming the mesh when the strangers came: they were challenged, then dropped
    expect(attempts.filter((a) => a.challenged).length).toBeGreaterThan(0);
  }, 240_000);
});
