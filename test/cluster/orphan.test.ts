import { spawn } from "node:child_process";
import { describe, expect, inject, it } from "vitest";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";
import { actorArgv, repoRoot } from "./harness.ts";

describe("actor whose host agent dies", () => {
  it("exits by itself instead of running on as an orphan", { timeout: 60_000 }, async () => {
    const [, ...args] = actorArgv();
    // A stand-in agent: starts one actor, prints its pid, then waits to be SIGKILLed.
    const script = `
      const { spawn } = require("node:child_process");
      const env = { ...process.env, TROUPE_AGENT_PID: String(process.pid) };
      const c = spawn(process.execPath, ${JSON.stringify(args)}, { stdio: "ignore", cwd: ${JSON.stringify(repoRoot)}, env });
      console.log(c.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ["-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, TROUPE_ACTOR_ID: "orphan", TROUPE_CLUSTER_ID: "orphantest", TROUPE_NATS_URL: inject("natsUrl") },
    });
    const actorPid = await new Promise<number>((resolve) =>
      parent.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))),
    );
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(pidAlive(actorPid)).toBe(true);
      parent.kill("SIGKILL");
      // even if it is still loading now, it checks its parent as soon as it starts
      const deadline = Date.now() + 40_000;
      while (pidAlive(actorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(pidAlive(actorPid)).toBe(false);
    } finally {
      if (pidAlive(actorPid)) process.kill(actorPid, "SIGKILL");
      parent.kill("SIGKILL");
    }
  });
});
