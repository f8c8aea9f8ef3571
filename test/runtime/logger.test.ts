import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { actorLogger, createRootLogger } from "../../runtime/logger.ts";

describe("logging", () => {
  it("child loggers carry the actor id and coordinates on every line", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-log-"));
    const file = path.join(dir, "out.log");
    const fd = openSync(file, "w");
    const root = createRootLogger({ name: "t", level: "info", destination: fd });
    const log = actorLogger(root, "w5", { d: 1, p: 0, t: 1 });
    log.info({ step: 3 }, "stepping");
    log.debug("hidden below info");
    closeSync(fd);
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    rmSync(dir, { recursive: true, force: true });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ name: "t", actorId: "w5", coords: { d: 1, p: 0, t: 1 }, step: 3, msg: "stepping" });
  });
});
