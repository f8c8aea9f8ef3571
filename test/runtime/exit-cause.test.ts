import { describe, expect, it } from "vitest";
import { describeExit, lostFromOutside } from "../../runtime/exit-cause.ts";

describe("exit causes", () => {
  it("names the signal, or the exit code with the last plain stderr line", () => {
    expect(describeExit({ code: null, signal: "SIGKILL", stderrTail: "" })).toBe("killed by SIGKILL");
    expect(describeExit({ code: 1, signal: null, stderrTail: '{"level":50}\nError: checkpoint x is corrupt\n{"level":30}\n' })).toBe("exited with code 1: Error: checkpoint x is corrupt");
    expect(describeExit({ code: 2, signal: null, stderrTail: "" })).toBe("exited with code 2");
  });

  it("tells a death from outside (signal, silence) from an error of the actor's own", () => {
    for (const cause of ["killed by SIGKILL", "killed by SIGTERM while starting", "no heartbeat for 10000 ms (hung); killed", "no heartbeat within 180000 ms of start"]) {
      expect(lostFromOutside(cause), cause).toBe(true);
    }
    for (const cause of ["exited with code 1: Error: bad config", "exited with code 0", "spawn failed: no agent", "unknown cause"]) {
      expect(lostFromOutside(cause), cause).toBe(false);
    }
  });
});
