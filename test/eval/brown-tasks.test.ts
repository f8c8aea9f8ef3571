import { describe, expect, it } from "vitest";
import { buildLastWordTask, buildNextSentenceTask, splitSentences, taskTexts } from "../../ml/eval/brown-tasks.ts";
import { formatTask, parseTask } from "../../ml/eval/task-file.ts";

const nouns = ["river", "house", "garden", "market", "letter", "window", "doctor", "engine", "harbor", "teacher"];
// Small documents whose every sentence names its document, so the origin of a text can be checked.
const docs = Array.from({ length: 12 }, (_, d) => ({
  id: `doc${String(d).padStart(2, "0")}`,
  text:
    Array.from({ length: 10 }, (_, s) => {
      const filler = "and then some more words were said"
        .split(" ")
        .slice(0, (s * 3 + d) % 7)
        .join(" ");
      return `In doc${d} sentence ${s} the old man walked to the ${nouns[(d + s) % nouns.length]} ${filler} near the ${nouns[(d * s) % nouns.length]}.`;
    }).join(" ") + '\n\n"Is it over?" she asked. He said nothing.',
}));
const docOf = (text: string) => /doc(\d+)/.exec(text)?.[1];

describe("sentence splitting", () => {
  it("splits after end punctuation and closing quotes, keeps abbreviations-like lower-case continuations", () => {
    expect(splitSentences('He came. "Is it?" she asked. Then e.g. nothing.\n\nNew paragraph here!')).toEqual([
      "He came.",
      '"Is it?" she asked.',
      "Then e.g. nothing.",
      "New paragraph here!",
    ]);
  });

  it("does not end a sentence after a title, an abbreviation or an initial", () => {
    expect(splitSentences("Mr. Smith met Dr. J. F. Kennedy at St. Louis. They spoke.")).toEqual([
      "Mr. Smith met Dr. J. F. Kennedy at St. Louis.",
      "They spoke.",
    ]);
  });
});

describe("Brown example tasks", () => {
  const options = { seed: 3, trainExamples: 5, testExamples: 20 };

  it("last word: the context plus the target is a passage ending in that word", () => {
    const task = buildLastWordTask(docs, options);
    expect(task.train).toHaveLength(5);
    expect(task.test).toHaveLength(20);
    for (const ex of task.test) {
      if (ex.kind !== "completion") throw new Error("kind");
      expect(ex.target).toMatch(/^[A-Za-z]{3,}$/);
      expect(ex.context.endsWith(" ")).toBe(false);
      expect([...nouns, "asked", "nothing"]).toContain(ex.target);
    }
  });

  it("few-shot and scored examples come from different documents", () => {
    for (const task of [buildLastWordTask(docs, options), buildNextSentenceTask(docs, options)]) {
      const trainDocs = new Set(task.train.map((ex) => docOf(ex.context)));
      for (const ex of task.test) expect(trainDocs.has(docOf(ex.context))).toBe(false);
    }
  });

  it("next sentence: the right answer follows the context, distractors come from other documents", () => {
    const task = buildNextSentenceTask(docs, options);
    for (const ex of task.test) {
      if (ex.kind !== "multiple_choice") throw new Error("kind");
      expect(ex.choices).toHaveLength(4);
      const right = ex.choices[ex.label];
      const doc = docOf(ex.context);
      expect(docOf(right)).toBe(doc);
      ex.choices.filter((_, i) => i !== ex.label).forEach((c) => expect(docOf(c)).not.toBe(doc));
    }
    const labels = new Set(task.test.map((ex) => (ex.kind === "multiple_choice" ? ex.label : -1)));
    expect(labels.size).toBeGreaterThan(1);
  });

  it("is deterministic in the seed and round-trips through JSONL", () => {
    const a = buildNextSentenceTask(docs, options);
    expect(buildNextSentenceTask([...docs].reverse(), options)).toEqual(a);
    expect(buildNextSentenceTask(docs, { ...options, seed: 4 })).not.toEqual(a);
    const text = formatTask(a);
    expect(parseTask(text, "brown-nextsentence.jsonl")).toEqual(a);
    expect(taskTexts(a).length).toBe(a.train.length * 5 + a.test.length * 5);
  });

  it("says when there are too few candidates", () => {
    expect(() => buildLastWordTask(docs, { ...options, testExamples: 10_000 })).toThrow(/candidate test examples, 10000 asked/);
    expect(() => buildLastWordTask(docs.slice(0, 1), options)).toThrow(/at least 2 documents/);
  });
});
