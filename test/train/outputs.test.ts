import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lossCurveSvg, scale } from "../../ml/train/loss-svg.ts";
import { MetricsCsv } from "../../ml/train/metrics-csv.ts";
import { formatDuration } from "../../ml/train/progress.ts";
import type { StepReport } from "../../ml/train/types.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-out-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const report = (step: number, loss: number): StepReport => ({
  step,
  tokensSeen: step * 100,
  samplesSeen: step * 4,
  loss,
  gradNorm: 0.5,
  clipped: false,
  lr: 1e-3,
  batchSize: 4,
  stepSeconds: 0.1,
});

describe("metrics CSV", () => {
  it("writes one row per step with validation loss on its step's row, and trims on resume", () => {
    const file = path.join(dir, "metrics.csv");
    const csv = new MetricsCsv(file);
    csv.recordValidation({ step: 0, tokensSeen: 0, samplesSeen: 0 }, 5.5);
    for (let s = 1; s <= 4; s++) {
      csv.recordStep(report(s, 5 - s / 10), 1000, s);
      if (s % 2 === 0) csv.recordValidation({ step: s, tokensSeen: s * 100, samplesSeen: s * 4 }, 5 - s / 5);
    }
    csv.recordStep(report(5, 4.4), 1000, 5);
    csv.flush();
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines[0]).toBe("step,tokens,samples,batch,lr,loss,grad_norm,val_loss,tokens_per_s,elapsed_s");
    expect(lines).toHaveLength(7);
    expect(lines[1]).toBe("0,0,0,,,,,5.5,,");
    expect(lines[3]).toBe("2,200,8,4,0.001,4.8,0.5,4.6,1000,2");
    const resumed = new MetricsCsv(file, 3);
    expect(resumed.rows.map((r) => r.step)).toEqual([0, 1, 2, 3]);
    expect(readFileSync(file, "utf8").trim().split("\n")).toEqual(lines.slice(0, 5));
  });
});

describe("loss curve SVG", () => {
  it("maps values linearly into the plot and draws train, validation and reference", () => {
    expect(scale(0, 10, 100, 200)(2.5)).toBe(125);
    expect(scale(1, 1, 0, 10)(1)).toBe(5);
    const svg = lossCurveSvg(
      [
        { tokens: 0, valLoss: 6 },
        { tokens: 100, loss: 5 },
        { tokens: 200, loss: 4, valLoss: 4.2 },
        { tokens: 300, loss: 3.5 },
      ],
      { title: "run <a>", reference: { label: "unigram entropy 5.1", value: 5.1 } },
    );
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("run &lt;a&gt;");
    const polyline = /class="train"[^>]*points="([^"]+)"/.exec(svg)![1].split(" ");
    expect(polyline).toHaveLength(3);
    // x grows with tokens, y (screen) grows as loss falls
    const pts = polyline.map((p) => p.split(",").map(Number));
    expect(pts[1][0]).toBeGreaterThan(pts[0][0]);
    expect(pts[1][1]).toBeGreaterThan(pts[0][1]);
    expect(svg.match(/class="val"/g)).toHaveLength(2);
    expect(svg).toContain('class="reference"');
  });
});

describe("formatDuration", () => {
  it("prints short human durations", () => {
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(125)).toBe("2m05s");
    expect(formatDuration(3 * 3600 + 7 * 60)).toBe("3h07m");
    expect(formatDuration(Number.NaN)).toBe("?");
  });
});
