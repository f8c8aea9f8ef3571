// Fuzzy dedup on a running cluster (--nats): that cluster's host agent starts the actors; the dedup
// leaves the cluster up, and the actors' records say where they ran and that they were stopped.
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { HostAgent } from "../../runtime/agent/host-agent.ts";
import { findNearDuplicatesWithActors } from "../../actors/dedup/actor-fuzzy-dedup.ts";
import { findNearDuplicates, type FuzzyDedupConfig } from "../../ml/curation/fuzzy-dedup.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { plantedCorpus } from "./near-duplicates.ts";

const MTNLG: FuzzyDedupConfig = { shingle: 5, bands: 20, rows: 13, seed: 1, threshold: 0.8, workers: 1 };

describe("fuzzy dedup on a running cluster", { timeout: 90_000 }, () => {
  const clusterId = `dedup${randomUUID().slice(0, 8)}`;
  const ns = namespace(clusterId);
  let nc: NatsConnection;
  let registry: Registry;
  let agent: HostAgent;
  beforeAll(async () => {
    nc = await connectNats({ url: inject("natsUrl") });
    registry = await Registry.open(nc, ns);
    agent = new HostAgent({
      nc,
      ns,
      registry,
      events: await EventLog.open(nc, ns),
      logger: pino({ level: "silent" }),
      name: "box1",
      slots: 4,
      natsUrl: inject("natsUrl"),
    });
    await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    await nc.close();
  });

  test("the cluster's host agent runs the actors; same result as in process; the cluster stays up", async () => {
    const { texts } = plantedCorpus(41, 30, 100, [0.95, 0.85, 0.6]);
    const prio = texts.map(() => 0);
    const workDir = mkdtempSync(path.join(os.tmpdir(), "troupe-dedup-cluster-"));
    const notes: string[] = [];
    const r = await findNearDuplicatesWithActors(texts, prio, MTNLG, {
      signatureActors: 2,
      reducers: 1,
      workDir,
      natsUrl: inject("natsUrl"),
      clusterId,
      onNote: (l) => notes.push(l),
    });
    const ref = await findNearDuplicates(texts, prio, MTNLG);
    expect(r.keep).toEqual(ref.keep);
    expect(r.edges).toEqual(ref.edges);
    expect(r.execution).toMatchObject({ mode: "actors", cluster: inject("natsUrl") });
    expect(notes[0]).toContain(`(cluster ${inject("natsUrl")})`);
    expect(readdirSync(workDir)).toEqual([]);

    expect(nc.isClosed()).toBe(false);
    expect((await nc.request(ns.agentSubject("box1", "ping"), new Uint8Array(), { timeout: 2000 })).data.length).toBeGreaterThan(0);
    const records = (await registry.listActors()).filter((a) => a.supervisor.startsWith("dedup-"));
    expect(records.map((a) => a.id.replace(/^dedup-\w+-/, "")).sort()).toEqual(["red0", "sig0", "sig1"]);
    for (const a of records) {
      expect(a.host).toBe("box1");
      expect(a.state).toBe("dead");
      expect(a.deathCause).toBe("fuzzy dedup over");
    }
  });
});
