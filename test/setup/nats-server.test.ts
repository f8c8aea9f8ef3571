import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startNatsServer } from "../../runtime/nats-server.ts";

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

describe("startNatsServer", () => {
  it("listens on a free port, writes its config 0600, and stops", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-nats-"));
    try {
      const server = await startNatsServer({ dir, token: "secret" });
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
      expect(await canConnect(server.port)).toBe(true);
      expect(statSync(path.join(dir, "nats-server.conf")).mode & 0o777).toBe(0o600);
      await server.stop();
      expect(server.process.exitCode !== null || server.process.signalCode !== null).toBe(true);
      expect(await canConnect(server.port)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("restarts on the same port and store", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-nats-"));
    try {
      const first = await startNatsServer({ dir });
      await first.stop();
      const second = await startNatsServer({ dir, port: first.port });
      expect(second.port).toBe(first.port);
      await second.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
