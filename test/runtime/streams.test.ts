// Reading a JetStream stream without following (`troupe events [--actor X] [-n N]`, `troupe logs`), on the test
// run's real nats-server: a read ends at the last message it takes that was there when it began, however many
// messages of other subjects come after that one, and while other clients keep publishing.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { deadline } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog, type StoredEvent } from "../../runtime/event-log.ts";
import { namespace } from "../../runtime/namespace.ts";

let nc: NatsConnection;
let publisherNc: NatsConnection;
beforeAll(async () => {
  nc = await connectNats({ url: inject("natsUrl") });
  publisherNc = await connectNats({ url: inject("natsUrl") });
});
afterAll(async () => {
  await publisherNc?.close();
  await nc?.close();
});

let id = 0;
function publish(log: EventLog, subject: string): Promise<{ seq: number }> {
  return log.publish(
    { type: ["actor.transition", "step.committed", "process.exited"][id % 3]!, subject, time: Date.now(), data: { n: id } },
    `e${id++}`,
  );
}

/** A read that ends, or fails the test within 20 s instead of hanging it. */
async function read(log: EventLog, opts: { about?: string; last?: number }): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  await deadline(
    log.read({ follow: false, ...opts }, (e) => out.push(e)),
    20_000,
    `read ${JSON.stringify(opts)}`,
  );
  return out;
}

describe("readStream without follow", () => {
  it("ends at the filter's last message with many other subjects' messages after it; -n counts the stream's last messages", async () => {
    const log = await EventLog.open(nc, namespace(`t${randomUUID().slice(0, 8)}`));
    const mine: number[] = [];
    for (let i = 0; i < 30; i++) {
      const { seq } = await publish(log, i % 3 === 0 ? "w1" : "w10"); // w10: a prefix of the filter must not match
      if (i % 3 === 0) mine.push(seq);
    }
    for (let i = 0; i < 150; i++) await publish(log, `w${2 + (i % 3)}`);
    expect((await read(log, { about: "w1" })).map((e) => e.seq)).toEqual(mine);
    // the last 160 of 180: w1's events among them only (fewer than N)
    expect((await read(log, { about: "w1", last: 160 })).map((e) => e.seq)).toEqual(mine.filter((s) => s > 20));
    expect(await read(log, { about: "w1", last: 150 })).toEqual([]);
    expect(await read(log, { about: "w1", last: 1 })).toEqual([]);
    expect(await read(log, { about: "nobody" })).toEqual([]);
    expect(await read(log, { about: "nobody", last: 500 })).toEqual([]);
    expect((await read(log, { last: 5 })).map((e) => e.seq)).toEqual([176, 177, 178, 179, 180]);
    expect(await read(log, {})).toHaveLength(180);
    expect(await read(await EventLog.open(nc, namespace(`t${randomUUID().slice(0, 8)}`)), { about: "w1", last: 3 })).toEqual([]);
  });

  it("ends while other clients keep publishing, the filter's subject too, and delivers everything there when it began", async () => {
    const ns = namespace(`t${randomUUID().slice(0, 8)}`);
    const log = await EventLog.open(nc, ns);
    const other = await EventLog.open(publisherNc, ns);
    for (let i = 0; i < 40; i++) await publish(log, i % 4 === 0 ? "w1" : "w0");
    let publishing = true;
    let published = 0;
    const background = (async () => {
      for (let i = 0; publishing; i++) {
        await publish(other, i % 10 === 0 ? "w1" : `w${2 + (i % 3)}`);
        published++;
      }
    })();
    try {
      for (let round = 0; round < 12; round++) {
        const before = (await read(log, { about: "w1" })).map((e) => e.seq);
        const opts = [{ about: "w1" }, { about: "w1", last: 20 }, { about: "w0", last: 100 }, { last: 10 }][round % 4]!;
        const got = (await read(log, opts)).map((e) => e.seq);
        expect(got).toEqual([...got].sort((a, b) => a - b));
        if (round % 4 === 0) expect(got.slice(0, before.length)).toEqual(before);
      }
    } finally {
      publishing = false;
      await background;
    }
    expect(published).toBeGreaterThan(12); // the reads really ran beside a publisher
  });
});
