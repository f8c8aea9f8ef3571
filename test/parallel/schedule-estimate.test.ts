import { describe, expect, it } from "vitest";
import { estimateSchedule } from "../../ml/parallel/schedule-estimate.ts";

describe("schedule estimate on a layer split", () => {
  it("equals the formula when stages are equal, and exceeds it when the head makes one stage slower", () => {
    const even = estimateSchedule("1f1b", 8, 4, 8, { layer: 1, embedding: 0, head: 0 });
    expect(even.bubble).toBeCloseTo(even.formula, 9);
    expect(even.peakInFlightStage0).toBe(4);
    const heavyHead = estimateSchedule("1f1b", 8, 4, 8, { layer: 1, embedding: 0, head: 0.5 });
    expect(heavyHead.bubble).toBeGreaterThan(heavyHead.formula + 0.01);
    const interleaved = estimateSchedule("interleaved", 16, 4, 8, { layer: 1, embedding: 0, head: 0 }, 2, "eager");
    expect(interleaved.bubble).toBeCloseTo(interleaved.formula, 9);
    expect(interleaved.formula).toBeLessThan(even.formula);
  });
});
