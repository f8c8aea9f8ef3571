// `troupe chaos`: duration parsing, seeded victim choice and recovery matching (pure); then end to end against a
// real dp 3 or dp 2 job on the shared nats-server (its own host agent and worker processes), the CLI as a child process.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, inject, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { parseDuration, pickVictim, recoveredFaults, seededRandom } from "../../cli/commands/chaos.ts";
import { runDistributed } from "../../actors/coordinator/run-distributed.ts";
import type { Coordinator } from "../../actors/coordinator/coordinator.ts";
import { jobControlSubject } from "../../actors/coordinator/control.ts";
import { callRetrying } from "../../runtime/rpc.ts";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { Registry } from "../../runtime/registry.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { FAST_TIMEOUTS, writeTinyConfig } from "../recovery/fixtures.ts";
import { troupe } from "./cli-troupe.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-chaos-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("chaos helpers", () => {
  it("parses durations and names the flag in errors", () => {
    expect(parseDuration("every", "30s")).toBe(30_000);
    expect(parseDuration("for", "10m")).toBe(600_000);
    expect(parseDuration("for", "1.5h")).toBe(5_400_000);
    expect(parseDuration("every", "250ms")).toBe(250);
    expect(() => parseDuration("every", "30")).toThrow("--every must be a duration like 500ms, 30s, 10m or 1h, got '30'");
    expect(() => parseDuration("for", "0s")).toThrow("--for must be longer than 0, got '0s'");
    expect(() => parseDuration("for", "-1m")).toThrow(/--for must be a duration/);
  });

  it("replays the same victims for the same seed and covers every worker", () => {
    const live = [0, 1, 2, 3].map((i) => ({ id: `w${i}`, pid: 100 + i, host: "h" }));
    const pick = (seed: number) => {
      const r = seededRandom(seed);
      return Array.from({ length: 40 }, () => pickVictim(live, r)!.id);
    };
    expect(pick(7)).toEqual(pick(7));
    expect(pick(7)).not.toEqual(pick(8));
    expect(new Set(pick(7)).size).toBe(4);
    expect(pickVictim([], seededRandom(1))).toBeUndefined();
  });

  it("matches each fault to a later restore of the same worker, once", () => {
    const faults = [
      { actor: "w1", pid: 1, signal: "SIGKILL", time: 100 },
      { actor: "w1", pid: 2, signal: "SIGKILL", time: 200 },
      { actor: "w2", pid: 3, signal: "SIGKILL", time: 300 },
    ];
    const ev = (subject: string, time: number, type = "worker.restored") => ({ type, subject, time, data: {}, seq: time });
    const recovered = recoveredFaults(faults, [ev("w1", 150), ev("w1", 90), ev("w2", 350, "chaos.fault"), ev("w2", 310)]);
    expect(recovered.map((f) => f.pid)).toEqual([1, 3]);
  });
});

describe("troupe chaos against a running job", () => {
  it.each([
    // dp 3: the second fault may come while the first is still being recovered (a recovery takes longer than 3 s on
    // a loaded machine); a third replica still holds the state whichever two are hit
    { signal: "KILL", every: "3s", forTime: "4s", faults: 2, dp: 3, cluster: "ctlchaos" },
    // a stopped worker is a hang: heartbeats stop, the supervisor kills and replaces it
    { signal: "STOP", every: "10s", forTime: "1s", faults: 1, dp: 2, cluster: "ctlchaosstop" },
  ])(
    "$signal: signals random live workers through their host agent, publishes chaos.fault events, counts the recoveries",
    async ({ signal, every, forTime, faults, dp, cluster }) => {
      const url = inject("natsUrl");
      const ns = namespace(cluster);
      const nc = await connect({ servers: url });
      const logger = createRootLogger({ name: "chaos-test", level: "silent" });
      const registry = await Registry.open(nc, ns);
      const events = await EventLog.open(nc, ns);
      const agent = new HostAgent({ nc, ns, registry, events, logger, name: "chaoshost", slots: dp, natsUrl: url });
      await agent.start();
      // runs until the chaos command is done (its process takes seconds to start on a loaded machine)
      const configFile = writeTinyConfig(root, { name: "chaosjob", dp, pp: 1, tp: 1, steps: 1_000_000 });
      const stop = new AbortController();
      let chaos: Promise<{ code: number; stdout: string; stderr: string }> | undefined;
      let coordinator: Coordinator | undefined;
      try {
        const run = await runDistributed({
          configFile,
          runDir: path.join(root, cluster),
          natsUrl: url,
          clusterId: ns.clusterId,
          backendsModule: path.resolve("test/distributed/fixtures/markov-gpt-backends.ts"),
          out: new PassThrough() as unknown as NodeJS.WriteStream,
          tty: false,
          noSamples: true,
          timeouts: FAST_TIMEOUTS,
          intensity: { maxRestarts: 10, periodMs: 60_000 },
          stop: stop.signal,
          onStarted: (c) => {
            coordinator = c;
            // the CLI first asks the job's control subject, which the coordinator subscribed to on its own connection
            // just before onStarted: wait until it answers
            chaos = callRetrying(nc, jobControlSubject(ns, "chaosjob"), { describe: true }, { attemptMs: 5000, deadlineMs: 60_000 })
              .then(() =>
                troupe(
                  "chaos",
                  "--job",
                  "chaosjob",
                  "--every",
                  every,
                  "--for",
                  forTime,
                  "--signal",
                  signal,
                  "--seed",
                  "3",
                  "--settle",
                  "30s",
                  "--nats",
                  url,
                  "--cluster-id",
                  ns.clusterId,
                ),
              )
              .finally(() => stop.abort());
          },
        });
        const r = await chaos!;
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const lines = r.stdout.trim().split("\n");
        expect(lines[0]).toBe(`chaos on job chaosjob (${dp} workers): SIG${signal} every ${every} for ${forTime}, seed 3`);
        const faultLines = lines.filter((l) => l.startsWith("fault "));
        expect(faultLines).toHaveLength(faults);
        for (const l of faultLines)
          expect(l).toMatch(new RegExp(`^fault \\d: SIG${signal} → chaosjob-w[0-${dp - 1}] \\(pid \\d+ on chaoshost\\)$`));
        expect(lines.at(-1)).toBe(`summary: ${faults} fault(s) injected, ${faults} recovered (worker.restored events)`);
        const published = (await events.readAll()).filter((e) => e.type === "chaos.fault");
        expect(published.map((e) => [e.subject, e.data.signal])).toEqual(
          faultLines.map((l) => [/chaosjob-w\d/.exec(l)![0], `SIG${signal}`]),
        );
        expect(published.map((e) => e.data.pid)).toEqual(faultLines.map((l) => Number(/pid (\d+)/.exec(l)![1])));
        // each faulted worker recovered once (a second fault during the first recovery recovers both together)
        expect(coordinator!.recoveries.map((x) => x.actorId).sort()).toEqual(published.map((e) => e.subject).sort());
        // every step committed once, in order, through the faults
        expect(run.steps.map((x) => x.step)).toEqual(Array.from({ length: run.steps.length }, (_, i) => i + 1));
      } finally {
        await agent.stop();
        await nc.close();
      }
    },
    300_000,
  );

  it("rejects bad flags and an unknown job with one clear line", async () => {
    const url = inject("natsUrl");
    const [badEvery, badSignal, unknownJob] = await Promise.all([
      troupe("chaos", "--job", "j", "--every", "soon", "--nats", url),
      troupe("chaos", "--job", "j", "--signal", "TERM", "--nats", url),
      troupe("chaos", "--job", "nojob", "--every", "1s", "--for", "1s", "--nats", url, "--cluster-id", "ctlchaos2"),
    ]);
    expect(badEvery.stderr.trim()).toBe("troupe: --every must be a duration like 500ms, 30s, 10m or 1h, got 'soon'");
    expect(badSignal.stderr.trim()).toBe("troupe: --signal must be KILL or STOP, got 'TERM'");
    expect(unknownJob.code).toBe(1);
    expect(unknownJob.stderr).toMatch(/^troupe: unknown job 'nojob': nobody answers on troupe\.ctlchaos2\.job\.nojob\.control/);
  }, 60_000);
});
