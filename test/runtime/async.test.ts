import { describe, expect, it } from "vitest";
import { deadline, deferred, delay, pollUntil } from "../../runtime/async.ts";
import { DeadlineError } from "../../runtime/errors.ts";

describe("deferred", () => {
  it("resolves and rejects from outside, and says whether it settled", async () => {
    const d = deferred<number>();
    expect(d.settled).toBe(false);
    d.resolve(7);
    expect(d.settled).toBe(true);
    await expect(d).resolves.toBe(7);
    const e = deferred();
    e.reject(new Error("boom"));
    await expect(e).rejects.toThrow("boom");
  });

  it("a rejection nobody awaits is not an unhandled rejection", async () => {
    const seen: unknown[] = [];
    const onUnhandled = (r: unknown) => seen.push(r);
    process.on("unhandledRejection", onUnhandled);
    deferred().reject(new Error("ignored"));
    await delay(20);
    process.off("unhandledRejection", onUnhandled);
    expect(seen).toEqual([]);
  });
});

describe("delay, deadline, pollUntil", () => {
  it("delay ends early when its signal aborts", async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 10);
    await delay(10_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("deadline passes a value through and names what was late", async () => {
    await expect(deadline(Promise.resolve(3), 1000, "x")).resolves.toBe(3);
    await expect(deadline(new Promise(() => undefined), 10, "the answer of w1")).rejects.toThrow(
      new DeadlineError("the answer of w1: no answer within 10 ms"),
    );
  });

  it("pollUntil returns the first defined value, or fails with what it waited for", async () => {
    let n = 0;
    await expect(pollUntil(() => (++n >= 3 ? n : undefined), { what: "n", timeoutMs: 5000, everyMs: 1 })).resolves.toBe(3);
    await expect(pollUntil(() => undefined, { what: "a port to open", timeoutMs: 20, everyMs: 5 })).rejects.toThrow(
      /a port to open: not within 20 ms/,
    );
  });
});
