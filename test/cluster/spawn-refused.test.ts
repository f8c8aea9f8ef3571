// The host agent starts only node running a program of troupe's installation (runtime/agent/spawn-policy.ts):
// a shell command, `node -e`, a script outside the installation (also reached through a symlink or `..`), a
// loader of the requester's choosing or NODE_OPTIONS are refused with a SpawnRefusedError reply and an
// `agent.spawn.refused` event, and nothing is started. Real nats-server, agent and processes.
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { SpawnRefusedError } from "../../runtime/agent/errors.ts";
import { checkSpawn, installationPolicy } from "../../runtime/agent/spawn-policy.ts";
import { pollUntil } from "../../runtime/async.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { call } from "../../runtime/rpc.ts";
import { childArgv, repoRoot, startInProcessAgent } from "./harness.ts";

describe("host agent spawn policy", () => {
  const ns = namespace(`t${randomUUID().slice(0, 8)}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-refused-"));
  const marker = path.join(dir, "pwned");
  const outside = path.join(dir, "outside.mjs");
  let nc: NatsConnection;
  let agent: HostAgent;
  let events: EventLog;
  const spawn = (actorId: string, argv: string[], extra: { env?: Record<string, string>; cwd?: string } = {}) =>
    call(nc, ns.agentSubject("hostR", "spawn"), { actorId, argv, env: extra.env ?? {}, ...(extra.cwd ? { cwd: extra.cwd } : {}) });

  beforeAll(async () => {
    writeFileSync(outside, `import { writeFileSync } from "node:fs"; writeFileSync(${JSON.stringify(marker)}, "x");\n`);
    ({ nc, events, agent } = await startInProcessAgent(inject("natsUrl"), ns, { name: "hostR", slots: 2 }));
  });
  afterAll(async () => {
    await agent.stop(200);
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses /bin/sh -c 'touch …': a one-line error naming the program, an event, no file", async () => {
    await expect(spawn("sh1", ["/bin/sh", "-c", `touch ${marker}`])).rejects.toThrow(
      /^refused to start '\/bin\/sh' for sh1: the agent starts only node running troupe's own programs$/,
    );
    const refused = await pollUntil(
      async () =>
        (await events.readAll()).find((e) => e.type === "agent.spawn.refused" && (e.data as { actorId?: string }).actorId === "sh1"),
      { what: "agent.spawn.refused event", timeoutMs: 10_000, everyMs: 20 },
    );
    expect(refused).toMatchObject({ subject: "hostR", data: { program: "/bin/sh" } });
    expect(existsSync(marker)).toBe(false);
    expect((await call(nc, ns.agentSubject("hostR", "ping"), {})) as { running: string[] }).toMatchObject({ running: [] });
  });

  it("refuses a node script outside the installation, also through a symlink or '..', and node -e", async () => {
    await expect(spawn("out1", ["node", outside])).rejects.toThrow(/refused to start '.*outside\.mjs' for out1: not a program of troupe/);
    const link = path.join(dir, "generic-actor-link.mjs");
    symlinkSync(outside, link);
    await expect(spawn("out2", ["node", link])).rejects.toThrow(/not a program of troupe/);
    await expect(spawn("out3", ["node", path.relative(repoRoot, outside)], { cwd: repoRoot })).rejects.toThrow(/not a program of troupe/);
    await expect(spawn("out4", ["node", "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`])).rejects.toThrow(
      /node option '-e' is not allowed/,
    );
    await expect(spawn("out5", ["node", "--import", `file://${outside}`, ...childArgv().slice(3)])).rejects.toThrow(
      /loader 'file:\/\/.*outside\.mjs' is not troupe's tsx loader/,
    );
    await expect(spawn("out6", childArgv(), { env: { NODE_OPTIONS: `--import ${outside}` } })).rejects.toThrow(
      /environment variable NODE_OPTIONS is not allowed/,
    );
    await expect(spawn("out7", ["node", path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), outside])).rejects.toThrow(
      /not a program of troupe/,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it("still starts troupe's programs (with the tsx loader given by name or resolved)", async () => {
    const { pid } = (await spawn("ok1", childArgv())) as { pid: number };
    expect(() => process.kill(pid, 0)).not.toThrow();
    const resolved = ["node", "--import", import.meta.resolve("tsx"), "--single-threaded-gc", ...childArgv().slice(3)];
    const second = (await spawn("ok2", resolved)) as { pid: number };
    await call(nc, ns.agentSubject("hostR", "kill"), { actorId: "ok1", signal: "SIGTERM", pid });
    await call(nc, ns.agentSubject("hostR", "kill"), { actorId: "ok2", signal: "SIGTERM", pid: second.pid });
  });

  it("checkSpawn: the program's real path, node's own binary, the typed error", () => {
    const policy = installationPolicy();
    const ok = checkSpawn({ actorId: "a", argv: childArgv("--exit", "0"), env: {} }, policy);
    expect(ok.file).toBe(process.execPath);
    expect(ok.args.slice(2)).toEqual([path.join(policy.root, "test/cluster/fixtures/plain-child.ts"), "--exit", "0"]);
    expect(checkSpawn({ actorId: "a", argv: [process.execPath, ...childArgv().slice(1)], env: {} }, policy).file).toBe(process.execPath);
    const e = (() => {
      try {
        checkSpawn({ actorId: "a", argv: ["node", "--import", "tsx"], env: {} }, policy);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(SpawnRefusedError);
    expect(e).toMatchObject({ actorId: "a", program: "node", reason: "no program file given" });
  });
});
