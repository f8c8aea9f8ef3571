import { describe, expect, it } from "vitest";
import {
  DEFAULT_PROMPT_FORMAT,
  buildContext,
  checkShotCount,
  continuationsOf,
  drawShots,
  scoredSplit,
  shotPool,
} from "../../ml/eval/prompt.ts";
import type { CompletionExample, Task } from "../../ml/eval/types.ts";

const ex = (i: number): CompletionExample => ({ kind: "completion", context: `context ${i}`, target: `w${i}` });
const pool = Array.from({ length: 20 }, (_, i) => ex(i));

describe("few-shot draws", () => {
  it("draw k distinct examples, the same for the same seed and query", () => {
    const a = drawShots(pool, 5, 42, 3);
    expect(new Set(a).size).toBe(5);
    expect(drawShots(pool, 5, 42, 3)).toEqual(a);
    expect(drawShots(pool, 5, 43, 3)).not.toEqual(a);
    expect(drawShots(pool, 5, 42, 4)).not.toEqual(a);
  });

  it("covers the pool evenly over many queries", () => {
    const counts = new Map<string, number>();
    for (let q = 0; q < 2000; q++) for (const s of drawShots(pool, 2, 1, q)) counts.set(s.context, (counts.get(s.context) ?? 0) + 1);
    expect(counts.size).toBe(20);
    for (const c of counts.values()) expect(Math.abs(c - 200)).toBeLessThan(70); // 4000 draws / 20, sd ~ 14
  });

  it("zero shots is empty, the query can be excluded, too many is an error", () => {
    expect(drawShots(pool, 0, 1, 0)).toEqual([]);
    const shots = drawShots(pool, 19, 1, 0, pool[7]);
    expect(shots).not.toContain(pool[7]);
    expect(() => drawShots(pool, 20, 1, 0, pool[7])).toThrow(/cannot draw 20 shots from 19/);
    expect(() => drawShots(pool, -1, 1, 0)).toThrow(/shot count/);
  });
});

describe("shot counts", () => {
  it("name the task and split that cannot supply them", () => {
    const task: Task = { name: "t", kind: "completion", train: pool.slice(0, 3), validation: [], test: [ex(1)] };
    expect(() => checkShotCount(task, 3)).not.toThrow();
    expect(() => checkShotCount(task, 4)).toThrow("task t: 4 shots asked, but its train split offers only 3 examples per query");
    const noTrain: Task = { name: "v", kind: "completion", train: [], validation: pool.slice(0, 3), test: [] };
    expect(() => checkShotCount(noTrain, 3)).toThrow(/validation split offers only 2/);
  });
});

describe("prompts", () => {
  it("join solved shots and the query as lm-evaluation-harness does", () => {
    const text = buildContext([ex(1), ex(2)], ex(3), DEFAULT_PROMPT_FORMAT);
    expect(text).toBe("context 1 w1\n\ncontext 2 w2\n\ncontext 3");
    expect(buildContext([], ex(3), { ...DEFAULT_PROMPT_FORMAT, description: "Finish the passage." })).toBe(
      "Finish the passage.\n\ncontext 3",
    );
  });

  it("put the answer of a multiple-choice shot and offer every choice", () => {
    const mc = { kind: "multiple_choice" as const, context: "Water is", choices: ["dry.", "wet."], label: 1 };
    expect(buildContext([mc], ex(0), DEFAULT_PROMPT_FORMAT)).toBe("Water is wet.\n\ncontext 0");
    expect(continuationsOf(mc, DEFAULT_PROMPT_FORMAT)).toEqual([" dry.", " wet."]);
    expect(continuationsOf(ex(5), DEFAULT_PROMPT_FORMAT)).toEqual([" w5"]);
  });

  it("fall back to validation for the pool and the scored split", () => {
    const task: Task = { name: "t", kind: "completion", train: [], validation: [ex(1)], test: [] };
    expect(shotPool(task)).toBe(task.validation);
    expect(scoredSplit(task)).toBe(task.validation);
  });
});
