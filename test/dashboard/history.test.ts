// What a dashboard started late reads of the past (cli/dashboard/history.ts), on the test run's real nats-server:
// from a log of thousands of per-step events with two recoveries in it, a few dozen events that give the same
// recovery bars as the whole log, every event of the other kinds and the job's last commit; from a long job's output,
// evenly spaced samples from its first message to its last that keep every validation; a short job's output whole; and
// the live read (live.ts) takes every event of the other kinds and samples the per-step ones, and gives the same
// recovery bar as the whole log; a burst larger than one tick's read of a kind still comes whole and in order.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog, type StoredEvent } from "../../runtime/event-log.ts";
import { namespace, type Namespace } from "../../runtime/namespace.ts";
import { ensureJobOutputStream, PublishedView } from "../../actors/jobs/job-output.ts";
import type { StepReport } from "../../ml/train/types.ts";
import { RecoveryTracker } from "../../cli/dashboard/recovery-timeline.ts";
import { readEventHistory, readOutputHistory } from "../../cli/dashboard/history.ts";
import { LiveReader } from "../../cli/dashboard/live.ts";

let nc: NatsConnection;
let ns: Namespace;
let log: EventLog;
beforeAll(async () => {
  nc = await connectNats({ url: inject("natsUrl") });
  ns = namespace(`t${randomUUID().slice(0, 8)}`);
  log = await EventLog.open(nc, ns);
  await ensureJobOutputStream(nc, ns);
});
afterAll(async () => {
  await nc?.close();
});

let n = 0;
let clock = 1_000_000;
const publish = (type: string, subject: string, data: Record<string, unknown> = {}) =>
  log.publish({ type, subject, time: (clock += 10), data }, `h${n++}`);

/** One step of a dp 2 job: each worker idle → stepping → applying → idle, then the commit. */
async function step(job: string, s: number): Promise<void> {
  const moves = [
    ["idle", "stepping"],
    ["stepping", "applying"],
    ["applying", "idle"],
  ];
  await Promise.all(["w0", "w1"].flatMap((w) => moves.map(([from, to]) => publish("worker.transition", `${job}-${w}`, { from, to }))));
  await publish("step.committed", job, { jobId: job, step: s, busySeconds: { [`${job}-w0`]: 0.01, [`${job}-w1`]: 0.01 } });
}

/** A SIGKILLed worker as the runtime records it: the fault, its failure and restart, the replacement's boot and restore. */
async function recovery(job: string, worker: string, s: number): Promise<void> {
  await publish("operator.kill", worker, { signal: "SIGKILL" });
  await publish("process.exited", worker, { signal: "SIGKILL" });
  await publish("actor.transition", worker, { from: "alive", to: "failed" });
  await publish("job.transition", job, { from: "training", to: "recovering" });
  await publish("actor.transition", worker, { from: "failed", to: "starting" });
  await publish("actor.transition", worker, { from: "starting", to: "alive" });
  await publish("worker.transition", worker, { from: "created", to: "loading" });
  await publish("worker.transition", worker, { from: "loading", to: "restoring" });
  await publish("worker.transition", worker, { from: "restoring", to: "idle" });
  await publish("worker.restored", worker, {
    jobId: job,
    actorId: worker,
    cause: "killed by SIGKILL",
    source: "peer",
    step: s,
    seconds: 1.2,
  });
  await publish("job.transition", job, { from: "recovering", to: "training" });
}

describe("a dashboard's past (history.ts)", { timeout: 120_000 }, () => {
  it("events: a few dozen of thousands, the same recovery bars as the whole log, the other kinds, the last commit", async () => {
    await publish("job.submitted", "j", {});
    for (let s = 1; s <= 400; s++) {
      if (s === 150) await recovery("j", "j-w1", 150);
      if (s === 300) await recovery("j", "j-w0", 300);
      await step("j", s);
    }
    const all = await log.readAll();
    const whole = new RecoveryTracker();
    for (const e of all) whole.add(e);
    expect(whole.bars).toHaveLength(2);

    const past = await readEventHistory(nc, ns, 200_000);
    expect(past.upTo).toBe(all.at(-1)!.seq);
    expect(past.events.length).toBeLessThan(60);
    expect(all.length).toBeGreaterThan(2800);
    const fromPast = new RecoveryTracker();
    for (const e of past.events) fromPast.add(e);
    // the same bars, phase for phase: the join ends at the restoring transition, the rerun at the commit of step 150 / 300
    expect(fromPast.bars).toEqual(whole.bars);
    expect(fromPast.bars.map((b) => b.ends.join)).toEqual(
      all.filter((e) => e.type === "worker.transition" && e.data.to === "restoring").map((e) => e.time),
    );
    const perStep = new Set(["worker.transition", "step.committed"]);
    const seqs = (es: StoredEvent[]) => es.filter((e) => !perStep.has(e.type)).map((e) => e.seq);
    expect(seqs(past.events)).toEqual(seqs(all));
    expect(past.events.filter((e) => e.type === "step.committed").map((e) => e.data.step)).toEqual([150, 300, 400]);
    expect(past.events.every((e, i) => i === 0 || e.seq > past.events[i - 1]!.seq)).toBe(true);

    // a window of the stream's last events: only what lies in it
    const recent = await readEventHistory(nc, ns, all.length - all.findIndex((e) => e.data.step === 200));
    const t = new RecoveryTracker();
    for (const e of recent.events) t.add(e);
    expect(t.bars.map((b) => b.actor)).toEqual(["j-w0"]);
  });

  it("live: the other kinds as they come, a few per-step samples, and a recovery's bar as the whole log gives it", async () => {
    const past = await readEventHistory(nc, ns, 200_000);
    const got: StoredEvent[] = [];
    const live = await LiveReader.open(nc, ns, {
      eventsFrom: past.upTo,
      outputFrom: 0,
      everyMs: 50,
      jobs: () => ["j"],
      workers: () => ["j-w0", "j-w1"],
      onEvent: (e) => got.push(e),
      onOutput: () => undefined,
    });
    const ctl = new AbortController();
    const running = live.run(ctl.signal);
    await publish("host.registered", "h2", {});
    for (let s = 401; s <= 460; s++) {
      if (s === 430) await recovery("j", "j-w1", 430);
      await step("j", s);
    }
    // kinds new to the stream (host.registered) are found within 5 s
    const done = (type: string, step?: number) => got.some((e) => e.type === type && (step === undefined || e.data.step === step));
    await vi.waitFor(() => expect(done("step.committed", 460) && done("host.registered") && done("worker.restored")).toBe(true), {
      timeout: 20_000,
    });
    ctl.abort();
    await running;
    const all = (await log.readAll()).filter((e) => e.seq > past.upTo);
    const whole = new RecoveryTracker();
    for (const e of all) whole.add(e);
    const fromLive = new RecoveryTracker();
    for (const e of got) fromLive.add(e);
    expect(whole.bars).toHaveLength(1);
    expect(fromLive.bars).toEqual(whole.bars);
    // every event of the other kinds, none twice; of the 60 steps' 420 per-step events, samples and lookups
    const perStep = new Set(["worker.transition", "step.committed"]);
    const seqs = (es: StoredEvent[]) => es.filter((e) => !perStep.has(e.type)).map((e) => e.seq);
    // (in stream order but for host.registered: a kind new to the stream is followed from the next discovery on)
    expect(seqs(got).sort((a, b) => a - b)).toEqual(seqs(all));
    expect(new Set(got.map((e) => e.seq)).size).toBe(got.length);
    expect(got.filter((e) => perStep.has(e.type)).length).toBeLessThan(200);
  });

  it("live: a burst of more events of a kind than a tick reads comes whole, once each, in stream order", async () => {
    const from = (await readEventHistory(nc, ns, 1)).upTo;
    // stored before the reader starts: its first ticks find 600 of each kind, more than a tick reads of one
    // (one kind's after the other's: a tick reads the second kind's first 256 before the first kind's last ones)
    for (let i = 0; i < 600; i++) {
      await publish("actor.transition", `burst-${i % 7}`, { from: "starting", to: "alive" });
      if (i % 100 === 0) await step("burst", i + 1);
    }
    for (let i = 0; i < 600; i++) await publish("job.transition", "burst", { from: "training", to: "training" });
    const got: StoredEvent[] = [];
    const live = await LiveReader.open(nc, ns, {
      eventsFrom: from,
      outputFrom: 0,
      everyMs: 50,
      jobs: () => [],
      workers: () => [],
      onEvent: (e) => got.push(e),
      onOutput: () => undefined,
    });
    const ctl = new AbortController();
    const running = live.run(ctl.signal);
    await vi.waitFor(() => expect(got.length).toBe(1200), { timeout: 20_000 });
    ctl.abort();
    await running;
    const want = (await log.readAll()).filter((e) => e.seq > from && (e.type === "actor.transition" || e.type === "job.transition"));
    expect(want).toHaveLength(1200);
    expect(got.map((e) => e.seq)).toEqual(want.map((e) => e.seq));
  });

  it("job output: a long job sampled (first to last message, every validation), a short one whole", async () => {
    const long = new PublishedView(nc, ns.jobOutputSubject("long"));
    const short = new PublishedView(nc, ns.jobOutputSubject("short"));
    const report = (s: number) => ({ step: s, loss: 10 - s / 1000, tokensSeen: 64 * s, samplesSeen: 4 * s }) as StepReport;
    long.say("starting");
    for (let s = 1; s <= 3000; s++) {
      long.step(report(s), 1000);
      if (s % 100 === 0) long.validation(s, 9 - s / 1000);
      if (s <= 40) short.step(report(s), 500);
    }
    await Promise.all([long.settled(), short.settled()]);

    const past = await readOutputHistory(nc, ns, 300, 20);
    const of = (job: string) => past.messages.filter((m) => m.job === job);
    const longSteps = of("long").flatMap((o) => (o.m.k === "step" ? [o.m.r.step] : []));
    expect(of("long").length).toBeLessThanOrEqual(300);
    expect(of("long").length).toBeGreaterThan(250);
    // from its first message to its last, in order, about every tenth step
    expect(of("long")[0]!.m).toEqual({ k: "say", line: "starting" });
    expect(of("long").at(-1)!.m).toEqual({ k: "validation", step: 3000, loss: 6 });
    expect(longSteps[0]).toBeLessThanOrEqual(12);
    expect(longSteps.at(-1)).toBeGreaterThanOrEqual(2988);
    expect(longSteps.every((s, i) => i === 0 || s > longSteps[i - 1]!)).toBe(true);
    // every validation: as a message of its own where sampled, else as a later step's last one
    const validations = new Set(
      of("long").flatMap((o) => (o.m.k === "validation" ? [o.m.step] : o.m.k === "step" && o.m.v ? [o.m.v.step] : [])),
    );
    expect([...validations].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => 100 * (i + 1)));
    expect(of("short").map((o) => (o.m.k === "step" ? o.m.r.step : -1))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // only the jobs that wrote last: the long one's last message came after the short one's
    const newest = await readOutputHistory(nc, ns, 300, 1);
    expect(new Set(newest.messages.map((m) => m.job))).toEqual(new Set(["long"]));
  });
});
