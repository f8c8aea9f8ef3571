// Fuzzy dedup on real actor processes (embedded nats-server + host agent): same result as the
// single-process version, also when a signature actor is SIGKILLed with a shard in flight.
import { describe, expect, test } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { findNearDuplicatesWithActors } from "../../actors/dedup/actor-fuzzy-dedup.ts";
import { findNearDuplicates, type FuzzyDedupConfig } from "../../ml/curation/fuzzy-dedup.ts";
import type { TaskStart } from "../../actors/dedup/task-farm.ts";
import { plantedCorpus } from "./near-duplicates.ts";

const MTNLG: FuzzyDedupConfig = { shingle: 5, bands: 20, rows: 13, seed: 1, threshold: 0.8, workers: 1 };

// chains of near-duplicates across shard boundaries, at similarities around the threshold
const { texts } = plantedCorpus(31, 60, 120, [0.95, 0.85, 0.8, 0.7, 0.9, 0.6]);
const priorities = texts.map((_, i) => (i * 7) % 3);

describe("fuzzy dedup on actors", { timeout: 120_000 }, () => {
  const reference = findNearDuplicates(texts, priorities, MTNLG);

  test("2 signature actors and 2 reducers find exactly the single-process result", async () => {
    const workDir = mkdtempSync(path.join(tmpdir(), "troupe-dedup-actors-"));
    const notes: string[] = [];
    const actors = await findNearDuplicatesWithActors(texts, priorities, MTNLG, {
      signatureActors: 2,
      reducers: 2,
      workDir,
      shardDocs: 25,
      onNote: (l) => notes.push(l),
    });
    const ref = await reference;
    expect(ref.edges.length).toBeGreaterThan(20);
    expect(actors.keep).toEqual(ref.keep);
    expect([...actors.keptFor]).toEqual([...ref.keptFor]);
    expect([...actors.candidates]).toEqual([...ref.candidates]);
    expect([...actors.candidateSims]).toEqual([...ref.candidateSims]);
    expect(actors.edges).toEqual(ref.edges);
    expect(actors.execution).toMatchObject({
      mode: "actors",
      signatureActors: 2,
      reducers: 2,
      shards: 5,
      reassignedTasks: 0,
      actorRestarts: 0,
    });
    expect(notes.some((l) => /2 signature actor\(s\) and 2 reducer\(s\) up/.test(l))).toBe(true);
    expect(readdirSync(workDir)).toEqual([]); // the run folder is removed
  });

  test("a signature actor SIGKILLed with a shard in flight is restarted, its shard reassigned, the result unchanged", async () => {
    const workDir = mkdtempSync(path.join(tmpdir(), "troupe-dedup-actors-"));
    const notes: string[] = [];
    const starts: TaskStart[] = [];
    let killed: number | undefined;
    const actors = await findNearDuplicatesWithActors(texts, priorities, MTNLG, {
      signatureActors: 2,
      reducers: 1,
      workDir,
      shardDocs: 20,
      onNote: (l) => notes.push(l),
      onTaskStart: (e) => {
        starts.push(e);
        if (killed === undefined && e.stage === "signatures" && e.task === 1) {
          killed = e.pid;
          process.kill(e.pid, "SIGKILL");
        }
      },
    });
    const ref = await reference;
    expect(killed).toBeDefined();
    expect(actors.keep).toEqual(ref.keep);
    expect([...actors.candidates]).toEqual([...ref.candidates]);
    expect(actors.edges).toEqual(ref.edges);
    expect(actors.execution).toMatchObject({ reassignedTasks: 1 });
    expect(actors.execution.actorRestarts).toBeGreaterThanOrEqual(1);
    expect(notes.some((l) => /signatures: dedup-\w+-sig\d \(pid \d+\) lost .*SIGKILL.*task 1 reassigned/.test(l))).toBe(true);
    // shard 1 ran twice: first on the killed process, then on a live one
    const runsOf1 = starts.filter((s) => s.stage === "signatures" && s.task === 1);
    expect(runsOf1.map((s) => s.attempt)).toEqual([1, 2]);
    expect(runsOf1[1]!.pid).not.toBe(killed);
  });
});

describe("fuzzy dedup on actors: failures that must stop it", { timeout: 120_000 }, () => {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  test("no documents: nothing to start, an empty result", async () => {
    const r = await findNearDuplicatesWithActors([], [], MTNLG, { signatureActors: 2, reducers: 1, workDir: tmpdir() });
    expect(r.keep).toEqual([]);
    expect(r.candidates.length).toBe(0);
    expect(r.execution).toMatchObject({ mode: "actors", shards: 0 });
  });

  test("a task that fails inside the actor fails the dedup with the actor's error, at once, and leaves nothing running", async () => {
    const workDir = mkdtempSync(path.join(tmpdir(), "troupe-dedup-actors-"));
    const pids = new Set<number>();
    const run = findNearDuplicatesWithActors(texts.slice(0, 40), priorities.slice(0, 40), MTNLG, {
      signatureActors: 1,
      reducers: 1,
      workDir,
      shardDocs: 20,
      onTaskStart: (e) => {
        pids.add(e.pid);
        if (e.stage === "signatures" && e.task === 0) rmSync(path.join(workDir, readdirSync(workDir)[0]!, "shards", "shard-0.msgpack"));
      },
    });
    await expect(run).rejects.toThrow(/cannot read .*shard-0\.msgpack: ENOENT/);
    expect(readdirSync(workDir)).toEqual([]);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });

  test("a shard whose actor keeps dying is given up after 3 attempts with the cause", async () => {
    const workDir = mkdtempSync(path.join(tmpdir(), "troupe-dedup-actors-"));
    const run = findNearDuplicatesWithActors(texts.slice(0, 40), priorities.slice(0, 40), MTNLG, {
      signatureActors: 1,
      reducers: 1,
      workDir,
      shardDocs: 20,
      onTaskStart: (e) => {
        if (e.stage === "signatures" && e.task === 1) process.kill(e.pid, "SIGKILL");
      },
    });
    await expect(run).rejects.toThrow(/^signatures task 1 failed 3 times; last: actor dedup-\w+-sig0 .*SIGKILL/);
  });

  test("aborting stops the actors and the private cluster and rejects with the reason", async () => {
    const workDir = mkdtempSync(path.join(tmpdir(), "troupe-dedup-actors-"));
    const stop = new AbortController();
    const pids = new Set<number>();
    const run = findNearDuplicatesWithActors(texts, priorities, MTNLG, {
      signatureActors: 2,
      reducers: 1,
      workDir,
      shardDocs: 10,
      signal: stop.signal,
      onTaskStart: (e) => {
        pids.add(e.pid);
        if (e.stage === "signatures" && e.task === 2) stop.abort("SIGINT");
      },
    });
    await expect(run).rejects.toThrow("fuzzy dedup interrupted (SIGINT)");
    expect(readdirSync(workDir)).toEqual([]);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
  });
});
