import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { formatTask, loadTask, parseTask } from "../../ml/eval/task-file.ts";

const lines = (...objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join("\n") + "\n";

describe("task files", () => {
  it("parses a completion task into splits", () => {
    const task = parseTask(
      lines(
        { split: "train", context: "He opened the", target: "door" },
        { split: "test", context: "She closed the", target: "window" },
        { split: "test", context: "They sat at the", target: "table", id: "extra fields are ignored" },
      ),
      "tasks/lastword.jsonl",
    );
    expect(task.name).toBe("lastword");
    expect(task.kind).toBe("completion");
    expect(task.train).toHaveLength(1);
    expect(task.test).toEqual([
      { kind: "completion", context: "She closed the", target: "window" },
      { kind: "completion", context: "They sat at the", target: "table" },
    ]);
  });

  it("parses multiple choice and round-trips through formatTask", () => {
    const text = lines(
      { split: "train", context: "The sky is", choices: ["blue.", "a fish."], label: 0 },
      { split: "test", context: "Water is", choices: ["dry.", "wet.", "loud."], label: 1 },
    );
    const task = parseTask(text, "mc.jsonl");
    expect(task.kind).toBe("multiple_choice");
    expect(parseTask(formatTask(task), "mc.jsonl")).toEqual(task);
  });

  it.each([
    ["{not json", /line 1: not valid JSON/],
    [lines({ split: "dev", context: "a", target: "b" }), /line 1: field "split"/],
    [lines({ split: "test", context: "a" }), /line 1: needs "target".*or both "choices" and "label"/],
    [lines({ split: "test", context: "a", choices: ["x", "y"], label: 2 }), /line 1: "label" 2 is out of range for 2 choices/],
    [lines({ split: "test", context: "a", target: "b", choices: ["x", "y"], label: 0 }), /has both "target"/],
    [lines({ split: "test", context: "a", choices: ["x"], label: 0 }), /line 1: field "choices"/],
    [
      lines({ split: "test", context: "a", target: "b" }, { split: "test", context: "a", choices: ["x", "y"], label: 0 }),
      /line 2: is multiple_choice but line 1 is completion/,
    ],
    ["\n\n", /has no examples/],
    [lines({ split: "train", context: "a", target: "b" }), /no "test" or "validation" examples/],
  ])("rejects bad input with the line and the problem (%#)", (text, message) => {
    expect(() => parseTask(text, "bad.jsonl")).toThrow(message);
    expect(() => parseTask(text, "bad.jsonl")).toThrow(/^bad\.jsonl/);
  });

  it("names a missing file", () => {
    expect(() => loadTask("/nonexistent/task.jsonl")).toThrow(/\/nonexistent\/task\.jsonl: cannot read task file \(ENOENT\)/);
  });

  it("loads from disk", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-task-"));
    try {
      const file = path.join(dir, "t.jsonl");
      writeFileSync(file, lines({ split: "validation", context: "a b", target: "c" }));
      const task = loadTask(file);
      expect(task.name).toBe("t");
      expect(task.validation).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
