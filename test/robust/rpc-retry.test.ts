// callRetrying + ReplyMemo across a real nats-server SIGKILL and restart on the same port and store:
// the caller gets the one result, the handler's work runs once.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { connectNats } from "../../runtime/connection.ts";
import { startNatsServer, type NatsServerHandle } from "../../runtime/nats-server.ts";
import { call, callRetrying, parseWith, ReplyMemo, serve } from "../../runtime/rpc.ts";
import { deferred, delay } from "../../runtime/async.ts";
import { RequestFailedError } from "../../runtime/errors.ts";
import { z } from "zod";

describe("ReplyMemo", () => {
  it("runs the work once per key, in flight or finished; a failure is shared while in flight, then forgotten", async () => {
    const memo = new ReplyMemo(2);
    let runs = 0;
    const work = async () => {
      runs++;
      await delay(20);
      return runs;
    };
    const [a, b] = await Promise.all([memo.run("k1", work), memo.run("k1", work)]);
    expect([a, b, runs]).toEqual([1, 1, 1]);
    expect(await memo.run("k1", work)).toBe(1);
    const failing = async () => {
      await delay(20);
      throw new Error("boom");
    };
    const both = [memo.run("bad", failing), memo.run("bad", () => 5)];
    await expect(both[0]).rejects.toThrow("boom");
    await expect(both[1]).rejects.toThrow("boom");
    expect(await memo.run("bad", () => 5)).toBe(5);
    // capacity 2: k1 was evicted by "bad" and k2
    await memo.run("k2", work);
    expect(await memo.run("k1", work)).toBe(3);
  });
});

describe("callRetrying", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-rpc-retry-"));
  let server: NatsServerHandle | undefined;
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("error replies are final; a subject nobody serves fails after the deadline; stop() ends retries", async () => {
    const nc = await connectNats({ url: inject("natsUrl") });
    try {
      let asked = 0;
      const sub = serve(nc, {
        subject: "robust.rpc.fails",
        parse: parseWith(z.object({})),
        handle: () => (asked++, Promise.reject(new Error("handler said no"))),
      });
      await nc.flush();
      await expect(callRetrying(nc, "robust.rpc.fails", {}, { attemptMs: 500, deadlineMs: 5000 })).rejects.toThrow("handler said no");
      expect(asked).toBe(1); // not asked again
      // why a call failed is typed, not a sentence to parse
      const reasonOf = (p: Promise<unknown>) =>
        p.then(
          () => "answered",
          (e: RequestFailedError) => e.reason,
        );
      expect(await reasonOf(call(nc, "robust.rpc.fails", {}))).toBe("error-reply");
      const silent = nc.subscribe("robust.rpc.silent"); // subscribed, never replies
      await nc.flush();
      expect(await reasonOf(call(nc, "robust.rpc.silent", {}, 200))).toBe("timeout");
      silent.unsubscribe();
      sub.unsubscribe();
      await expect(callRetrying(nc, "robust.rpc.nobody", {}, { attemptMs: 200, deadlineMs: 600, pauseMs: 50 })).rejects.toThrow(
        /nobody answers/,
      );
      const nobody = await call(nc, "robust.rpc.nobody", {}).catch((e: RequestFailedError) => e);
      expect([nobody instanceof RequestFailedError, (nobody as RequestFailedError).reason]).toEqual([true, "no-responders"]);
      expect((nobody as RequestFailedError).unanswered).toBe(true);
      await expect(
        callRetrying(nc, "robust.rpc.nobody", {}, { attemptMs: 200, deadlineMs: 5000, stop: () => new Error("job failed") }),
      ).rejects.toThrow("job failed");
    } finally {
      await nc.close();
    }
  });

  it("survives a nats-server SIGKILL and restart while the handler works: one result, work done once", async () => {
    server = await startNatsServer({ dir });
    const port = server.port;
    const statuses: string[] = [];
    const serverNc = await connectNats({ url: server.url, name: "handler", onStatus: (s) => statuses.push(s) });
    const clientNc = await connectNats({ url: server.url, name: "caller" });
    try {
      const memo = new ReplyMemo();
      let runs = 0;
      const working = deferred();
      const serverBack = deferred();
      serve<{ step: number }>(serverNc, {
        subject: "robust.rpc.step",
        parse: parseWith(z.object({ step: z.number() })),
        handle: (m) =>
          memo.run(`step:${m.step}`, async () => {
            runs++;
            working.resolve();
            await serverBack; // the server dies and comes back while this runs
            return { step: m.step, answer: 42 };
          }),
      });
      await serverNc.flush();
      const pending = callRetrying(clientNc, "robust.rpc.step", { step: 7 }, { attemptMs: 1000, deadlineMs: 60_000 });
      await working;
      server.process.kill("SIGKILL");
      await new Promise((r) => server!.process.once("exit", r));
      await delay(1000); // an outage longer than one attempt
      server = await startNatsServer({ dir, port });
      serverBack.resolve();
      expect(await pending).toEqual({ step: 7, answer: 42 });
      expect(runs).toBe(1);
      expect(statuses).toContain("reconnected");
      // a plain call after the outage works and hits the memo, not the work
      expect(await call(clientNc, "robust.rpc.step", { step: 7 }, 2000)).toEqual({ step: 7, answer: 42 });
      expect(runs).toBe(1);
    } finally {
      await clientNc.close();
      await serverNc.close();
    }
  });
});
