import { describe, expect, it } from "vitest";
import { byEscalation, crashLine, deathOfExit, describeDeath, lostFromOutside, type DeathCause } from "../../runtime/death-cause.ts";

describe("death causes", () => {
  it("from an exit report: the signal, or the exit code with the last plain stderr line, and the error line inside", () => {
    expect(deathOfExit({ code: null, signal: "SIGKILL", stderrTail: "" })).toEqual({ kind: "signal", signal: "SIGKILL" });
    const crashed = deathOfExit({ code: 1, signal: null, stderrTail: '{"level":50}\nError: checkpoint x is corrupt\n{"level":30}\n' });
    expect(crashed).toEqual({
      kind: "exit",
      code: 1,
      lastLine: "Error: checkpoint x is corrupt",
      crashLine: "Error: checkpoint x is corrupt",
    });
    expect(describeDeath(crashed)).toBe("exited with code 1: Error: checkpoint x is corrupt");
    expect(describeDeath(deathOfExit({ code: 2, signal: null, stderrTail: "" }))).toBe("exited with code 2");
  });

  it("words every kind as ps, inspect and the job errors always have", () => {
    const last: DeathCause = { kind: "exit", code: 3, lastLine: "generic actor: crashing on start as asked", starting: true };
    const cases: [DeathCause, string][] = [
      [{ kind: "signal", signal: "SIGKILL" }, "killed by SIGKILL"],
      [{ kind: "signal", signal: "SIGTERM", starting: true }, "killed by SIGTERM while starting"],
      [last, "exited with code 3: generic actor: crashing on start as asked while starting"],
      [{ kind: "silence", ms: 10_000 }, "no heartbeat for 10000 ms (hung); killed"],
      [
        { kind: "host-lost", host: "host3", silentMs: 1200, probeMs: 500 },
        "host host3 lost: no heartbeat for 1200 ms and its agent did not answer within 500 ms",
      ],
      [{ kind: "start-timeout", ms: 180_000 }, "no heartbeat within 180000 ms of start"],
      [{ kind: "spawn", error: "no agent" }, "spawn failed: no agent"],
      [
        { kind: "escalated", to: "job", child: "w1", maxRestarts: 3, periodMs: 30_000, last },
        "escalated to job: restart intensity exceeded (more than 3 restarts in 30000 ms); last failure: w1 exited with code 3: generic actor: crashing on start as asked while starting",
      ],
      [
        { kind: "escalated", to: null, child: "w1", maxRestarts: 0, periodMs: 1, last: { kind: "signal", signal: "SIGKILL" } },
        "escalated to no parent: restart intensity exceeded (more than 0 restarts in 1 ms); last failure: w1 killed by SIGKILL",
      ],
      [{ kind: "sibling-escalated", by: "sup", child: "w1" }, "stopped by sup: escalated after w1 failed"],
      [{ kind: "stopped", by: "dedup-1", reason: "fuzzy dedup over" }, "fuzzy dedup over"],
    ];
    for (const [cause, words] of cases) expect(describeDeath(cause)).toBe(words);
  });

  it("tells a death from outside (signal, silence) from an error of the actor's own, and an escalation's deaths", () => {
    const outside: DeathCause[] = [
      { kind: "signal", signal: "SIGKILL" },
      { kind: "signal", signal: "SIGTERM", starting: true },
      { kind: "silence", ms: 10_000 },
      { kind: "host-lost", host: "host3", silentMs: 1200, probeMs: 500 },
      { kind: "start-timeout", ms: 180_000 },
    ];
    const own: DeathCause[] = [
      { kind: "exit", code: 1, lastLine: "Error: bad config" },
      { kind: "exit", code: 0 },
      { kind: "spawn", error: "no agent" },
      { kind: "stopped", by: "s", reason: "done" },
    ];
    for (const c of outside) expect(lostFromOutside(c), describeDeath(c)).toBe(true);
    for (const c of own) expect(lostFromOutside(c), describeDeath(c)).toBe(false);
    expect(byEscalation({ kind: "sibling-escalated", by: "sup", child: "w1" })).toBe(true);
    expect(
      byEscalation({ kind: "escalated", to: null, child: "w1", maxRestarts: 0, periodMs: 1, last: { kind: "signal", signal: "SIGKILL" } }),
    ).toBe(true);
    for (const c of [...outside, ...own]) expect(byEscalation(c)).toBe(false);
  });
});

describe("crashLine", () => {
  it("finds the thrown error in a Node crash's stderr, not the version line", () => {
    const tail = [
      "file:///work/main/actors/worker/main.ts:17",
      "  if (typeof mod.createBackends !== 'function') throw new JobSpecError(...)",
      "                                                    ^",
      "",
      "JobSpecError: backends module x.ts does not export createBackends()",
      "    at loadBackends (file:///work/main/actors/worker/main.ts:17:71)",
      "",
      "Node.js v20.20.2",
    ].join("\n");
    expect(crashLine(tail)).toBe("JobSpecError: backends module x.ts does not export createBackends()");
    expect(crashLine("Error: boom\n")).toBe("Error: boom");
    expect(crashLine('{"level":30,"msg":"hi"}\nNode.js v20')).toBeUndefined();
    expect(deathOfExit({ code: 1, signal: null, stderrTail: tail })).toMatchObject({
      lastLine: "Node.js v20.20.2",
      crashLine: "JobSpecError: backends module x.ts does not export createBackends()",
    });
  });
});
