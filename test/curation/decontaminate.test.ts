import { describe, expect, test } from "vitest";
import {
  decontaminate,
  decontaminateText,
  getWords,
  MEGATRON_DECONTAMINATION as CFG,
  splitAround,
  TaskNgrams,
} from "../../ml/curation/decontaminate.ts";
import { SeededRandom } from "../../ml/data/seeded-random.ts";
import type { CurationDoc } from "../../ml/curation/types.ts";
import { randomWord } from "./near-duplicates.ts";

const TASK = "The old lighthouse keeper watched the storm roll across the bay until the lamps failed at midnight";

/** Filler prose: sentences of 6–14 random words, each ending with a period. */
function prose(rng: SeededRandom, chars: number): string {
  const sentences: string[] = [];
  let len = 0;
  while (len < chars) {
    const words = Array.from({ length: 6 + rng.nextInt(9) }, () => randomWord(rng));
    const s = `${words.join(" ")}.`;
    sentences.push(s[0]!.toUpperCase() + s.slice(1));
    len += s.length + 1;
  }
  return sentences.join(" ");
}

describe("task n-grams", () => {
  test("13-grams of long task texts; an 8–12 word text is one n-gram; shorter texts are ignored", () => {
    const g = TaskNgrams.fromTaskTexts([TASK, "one two three four five six seven eight nine", "too short to count"], CFG);
    expect(getWords(TASK).words.length).toBe(17);
    expect(g.byLength.get(13)!.size).toBe(17 - 13 + 1);
    expect([...g.byLength.get(9)!]).toEqual(["one two three four five six seven eight nine"]);
    expect(g.lengths()).toEqual([13, 9]);
  });

  test("words are /\\w+/ on lowercase: case and punctuation do not hide a match", () => {
    const g = TaskNgrams.fromTaskTexts(["one two three four five six seven eight"], CFG);
    const found = [...g.matches(getWords("x ONE, two; Three four -- five six (seven) eight!"))];
    expect(found.map((m) => [m.at, m.len])).toEqual([[1, 8]]);
  });
});

describe("cutting a match", () => {
  test("a 13+-word task sentence in a 2 kB document leaves two fragments with ~200 chars removed each side", () => {
    const rng = new SeededRandom(1);
    const left = prose(rng, 1000);
    const right = prose(rng, 1000);
    const doc = `${left} ${TASK}. ${right}`;
    expect(doc.length).toBeGreaterThan(2000);
    const ngrams = TaskNgrams.fromTaskTexts([TASK], CFG);
    const { fragments, matched } = decontaminateText(doc, ngrams, CFG);
    expect(matched.length).toBe(1);
    expect(fragments.length).toBe(2);
    const [a, b] = fragments as [string, string];
    const start = doc.indexOf(TASK);
    const end = start + TASK.length;
    expect(doc.startsWith(a)).toBe(true);
    expect(doc.endsWith(b)).toBe(true);
    expect(a.endsWith(".")).toBe(true); // cut extended back to sentence punctuation
    const removedBefore = start - a.length;
    const removedAfter = doc.length - b.length - end;
    // at least 200 characters, plus at most one filler sentence (≤ 14 words of ≤ 9 letters)
    for (const removed of [removedBefore, removedAfter]) {
      expect(removed).toBeGreaterThanOrEqual(200);
      expect(removed).toBeLessThan(200 + 150);
    }
    expect(a.toLowerCase()).not.toContain("lighthouse");
    expect(b.toLowerCase()).not.toContain("lighthouse");
  });

  test("the cut ends at the punctuation: splitAround by hand", () => {
    const text = "Aaaa. Bbbb. MATCH cccc. Dddd.";
    expect(splitAround(text, 12, 17, 3)).toEqual(["Aaaa.", "Dddd."]);
  });

  test("a fragment under 200 characters is dropped", () => {
    const rng = new SeededRandom(2);
    const doc = `${prose(rng, 300)} ${TASK}. ${prose(rng, 1500)}`;
    const { fragments } = decontaminateText(doc, TaskNgrams.fromTaskTexts([TASK], CFG), CFG);
    expect(fragments.length).toBe(1);
    expect(doc.endsWith(fragments[0]!)).toBe(true);
  });

  test("a document split into more than 10 fragments is dropped; one with 6 is kept as 6 documents", () => {
    const rng = new SeededRandom(3);
    // distinct task sentences, so no task n-gram reaches the 10-occurrence limit
    const tasks = Array.from({ length: 12 }, () => Array.from({ length: 15 }, () => randomWord(rng)).join(" "));
    const build = (matches: number): string => {
      const parts = [prose(rng, 700)];
      for (let i = 0; i < matches; i++) parts.push(`${tasks[i]}.`, prose(rng, 700));
      return parts.join(" ");
    };
    const docs: CurationDoc[] = [
      { id: "a/many", dataset: "a", priority: 0, text: build(12) },
      { id: "a/some", dataset: "a", priority: 0, text: build(5) },
      { id: "a/clean", dataset: "a", priority: 0, text: prose(rng, 900) },
    ];
    const { docs: out, report } = decontaminate(docs, tasks, CFG);
    expect(out.filter((d) => d.id.startsWith("a/some#")).length).toBe(6);
    expect(out.some((d) => d.id.startsWith("a/many"))).toBe(false);
    expect(out.find((d) => d.id === "a/clean")).toBe(docs[2]);
    const dropped = report.removed.find((r) => r.reason.startsWith("split into more than 10"));
    expect(dropped?.docs).toBe(1);
    expect(dropped?.examples[0]!.id).toBe("a/many");
    const cut = report.removed.find((r) => r.reason.startsWith("task n-gram cut out"))!;
    expect(cut.docs).toBe(0); // partial removal: bytes only
    expect(cut.bytes).toBeGreaterThan(5 * 400);
  });

  test("task n-grams seen 10 or more times in the corpus are ignored", () => {
    const rng = new SeededRandom(4);
    const withTask = (): string => `${prose(rng, 500)} ${TASK}. ${prose(rng, 500)}`;
    const ten = Array.from({ length: 10 }, (_, i) => ({ id: `c/${i}`, dataset: "c", priority: 0, text: withTask() }));
    // the 17-word task gives five 13-grams, each seen once per document
    const common = decontaminate(ten, [TASK], CFG);
    expect(common.docs).toEqual(ten);
    expect(common.report.details.ignoredTooCommon).toBe(5);
    const nine = decontaminate(ten.slice(0, 9), [TASK], CFG);
    expect(nine.docs.length).toBe(18);
  });
});

describe("unicode words", () => {
  test("\\w has Python's Unicode meaning: accented words stay whole", () => {
    expect(getWords("Café NAÏVE déjà-vu, x_1").words).toEqual(["café", "naïve", "déjà", "vu", "x_1"]);
  });
});
