// vitest globalSetup: one real nats-server for the whole run, on a free loopback port.
// Tests read its URL with `inject("natsUrl")`; tests that kill the server start their own.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
  }
}

let server: NatsServerHandle | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dir = mkdtempSync(path.join(os.tmpdir(), "troupe-test-nats-"));
  server = await startNatsServer({ dir });
  project.provide("natsUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
