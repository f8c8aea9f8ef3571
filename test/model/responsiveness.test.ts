// The actors rely on this: while a training step runs, the event loop stays free (heartbeats keep flowing).
import { expect, it } from "vitest";
import { createGpt } from "../../ml/model/mod.ts";
import { createAdamW } from "../../ml/optim/mod.ts";

interface Interval {
  late: number; // ms beyond the 10 ms period
  cpuShare: number; // process CPU time / wall time during the interval
}

it("a 10 ms timer is never more than 50 ms late while training steps run", async () => {
  // Wide layers: single kernels (the MLP's backward GEMMs over 1024 rows) take ~100 ms of CPU each, so a
  // kernel run on the JS thread would make the timer visibly late.
  const config = { vocabSize: 1024, seqLen: 128, layers: 1, dModel: 768, heads: 12 };
  const model = await createGpt(config, { seed: 1 });
  const opt = createAdamW(model);
  const batch = 8,
    n = batch * config.seqLen;
  const inputs = Int32Array.from({ length: n }, (_, i) => (i * 31) % 1024),
    targets = Int32Array.from({ length: n }, (_, i) => (i * 17) % 1024);
  // Warm-up outside the measurement: the first step allocates the activation buffers (on the JS thread, once).
  await model.forwardBackward(inputs, targets, batch, 1);

  const attempt = async () => {
    const intervals: Interval[] = [];
    let last = performance.now(),
      cpu = process.cpuUsage();
    const timer = setInterval(() => {
      const now = performance.now(),
        used = process.cpuUsage(cpu);
      intervals.push({ late: now - last - 10, cpuShare: (used.user + used.system) / 1000 / (now - last) });
      last = now;
      cpu = process.cpuUsage();
    }, 10);
    const started = performance.now();
    try {
      for (let steps = 0; steps < 1 || performance.now() - started < 1000; steps++) {
        await model.zeroGrad();
        await model.forwardBackward(inputs, targets, batch, 1);
        await opt.step(1e-3, 1);
      }
    } finally {
      clearInterval(timer);
    }
    return { intervals, elapsed: performance.now() - started };
  };

  // This machine may be shared and overloaded: then the OS does not run the process at all for a while
  // (it gets a small share of CPU time during that interval), which no code can prevent. Such intervals are
  // set aside. While this process does run, its kernel thread keeps it near one full core, so a JS thread
  // blocked by a kernel would show up as a late interval with a high CPU share.
  const reports: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { intervals, elapsed } = await attempt();
    expect(intervals.length, "the timer ran throughout").toBeGreaterThan(elapsed / 10 / 3);
    const scheduled = intervals.filter((v) => v.cpuShare >= 0.5);
    const worst = Math.max(0, ...scheduled.map((v) => v.late));
    reports.push(`worst ${worst.toFixed(1)} ms over ${scheduled.length}/${intervals.length} scheduled intervals`);
    if (scheduled.length >= 10 && worst < 50) return;
  }
  expect.fail(`timer too late (or machine too loaded to tell): ${reports.join("; ")}`);
}, 120_000);
