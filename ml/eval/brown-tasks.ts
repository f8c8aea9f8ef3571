// Example evaluation tasks built from held-out documents (the Brown corpus's validation documents):
//  - last word (LAMBADA style): a two-sentence passage, predict its final word;
//  - next sentence (story-cloze style multiple choice): pick the sentence that really follows, among
//    distractors of similar length taken from other documents.
// Deterministic in (documents, seed). Few-shot (train) and scored (test) examples come from disjoint
// documents, so a prompt never shows the passage it is scored on.
import { SeededRandom, deriveSeed } from "../generate/rng.ts";
import type { CompletionExample, MultipleChoiceExample, Task, TaskExample } from "./types.ts";

export interface SourceDocument {
  id: string;
  text: string;
}

export interface BuildTaskOptions {
  seed: number;
  trainExamples: number;
  testExamples: number;
  /** Longest passage (words) so prompts fit small context windows. */
  maxWords?: number;
  /** Choices per multiple-choice question. */
  choices?: number;
}

const wordCount = (s: string) => s.split(/\s+/).filter(Boolean).length;

/** A final word after which a full stop does not end the sentence: a title, an abbreviation, an initial. */
const NOT_AN_END = /(?:^|\s)(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|Messrs|Gen|Col|Lt|Capt|Sgt|Rev|Prof|Gov|Sen|Rep|Inc|Co|Corp|Ltd|No|vs|[A-Z])\.$/;

/** Sentences of a text: split after . ! ? (and closing quotes) before an upper-case start. */
export function splitSentences(text: string): string[] {
  const pieces = text
    .split(/\n\s*\n/)
    .flatMap((paragraph) =>
      paragraph
        .replace(/\s+/g, " ")
        .trim()
        .split(/(?<=[.!?]["')\]]*)\s+(?=["'(\[]*[A-Z])/),
    )
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const sentences: string[] = [];
  for (const piece of pieces) {
    const last = sentences.length - 1;
    if (last >= 0 && NOT_AN_END.test(sentences[last])) sentences[last] += " " + piece;
    else sentences.push(piece);
  }
  return sentences;
}

function shuffled<T>(items: readonly T[], rng: SeededRandom): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Documents sorted by id then shuffled by seed; the first quarter feeds the train split. */
function splitDocuments(docs: readonly SourceDocument[], seed: number): { train: SourceDocument[]; test: SourceDocument[] } {
  if (docs.length < 2) throw new RangeError(`need at least 2 documents to build a task, got ${docs.length}`);
  const order = shuffled(
    [...docs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    new SeededRandom(deriveSeed(seed, 1)),
  );
  const cut = Math.max(1, Math.floor(order.length / 4));
  return { train: order.slice(0, cut), test: order.slice(cut) };
}

function take<T>(items: T[], n: number, what: string, seed: number): T[] {
  if (items.length < n) throw new RangeError(`only ${items.length} candidate ${what} examples, ${n} asked`);
  return shuffled(items, new SeededRandom(seed)).slice(0, n);
}

/** A final word: letters only, at least 3 of them, preceded by a space. */
const LAST_WORD = /^(.*\S)\s+([A-Za-z]{3,})["')\]]*[.!?]["')\]]*$/;

function lastWordCandidates(docs: readonly SourceDocument[], maxWords: number): CompletionExample[] {
  const out: CompletionExample[] = [];
  for (const doc of docs) {
    const sentences = splitSentences(doc.text);
    for (let i = 1; i < sentences.length; i++) {
      const passage = `${sentences[i - 1]} ${sentences[i]}`;
      const words = wordCount(passage);
      if (words < 12 || words > maxWords) continue;
      const m = LAST_WORD.exec(passage);
      if (m) out.push({ kind: "completion", context: m[1], target: m[2] });
    }
  }
  return out;
}

export function buildLastWordTask(docs: readonly SourceDocument[], options: BuildTaskOptions): Task {
  const maxWords = options.maxWords ?? 50;
  const { train, test } = splitDocuments(docs, options.seed);
  return {
    name: "brown-lastword",
    kind: "completion",
    train: take(lastWordCandidates(train, maxWords), options.trainExamples, "train", deriveSeed(options.seed, 2)),
    validation: [],
    test: take(lastWordCandidates(test, maxWords), options.testExamples, "test", deriveSeed(options.seed, 3)),
  };
}

interface SentencePair {
  doc: string;
  first: string;
  next: string;
}

function sentencePairs(docs: readonly SourceDocument[], maxWords: number): SentencePair[] {
  const out: SentencePair[] = [];
  for (const doc of docs) {
    const sentences = splitSentences(doc.text);
    for (let i = 1; i < sentences.length; i++) {
      const a = wordCount(sentences[i - 1]);
      const b = wordCount(sentences[i]);
      if (a >= 6 && b >= 6 && a + b <= maxWords) out.push({ doc: doc.id, first: sentences[i - 1], next: sentences[i] });
    }
  }
  return out;
}

/** Distractors: sentences from other documents whose length is closest to the right answer's. */
function nextSentenceQuestions(pairs: SentencePair[], n: number, choices: number, seed: number, what: string): MultipleChoiceExample[] {
  const chosen = take(pairs, n, what, seed);
  const rng = new SeededRandom(deriveSeed(seed, 7));
  return chosen.map((pair) => {
    const target = wordCount(pair.next);
    const pool = shuffled(
      pairs.filter((p) => p.doc !== pair.doc && p.next !== pair.next),
      rng,
    ).slice(0, 200);
    pool.sort((a, b) => Math.abs(wordCount(a.next) - target) - Math.abs(wordCount(b.next) - target));
    const distractors = [...new Set(pool.map((p) => p.next))].slice(0, choices - 1);
    if (distractors.length < choices - 1) throw new RangeError(`not enough distractor sentences for ${what} examples`);
    const label = rng.nextInt(choices);
    const options = [...distractors];
    options.splice(label, 0, pair.next);
    return { kind: "multiple_choice", context: pair.first, choices: options, label };
  });
}

export function buildNextSentenceTask(docs: readonly SourceDocument[], options: BuildTaskOptions): Task {
  const maxWords = options.maxWords ?? 50;
  const choices = options.choices ?? 4;
  if (!Number.isInteger(choices) || choices < 2) throw new RangeError(`choices must be a whole number >= 2, got ${choices}`);
  const { train, test } = splitDocuments(docs, options.seed);
  return {
    name: "brown-nextsentence",
    kind: "multiple_choice",
    train: nextSentenceQuestions(sentencePairs(train, maxWords), options.trainExamples, choices, deriveSeed(options.seed, 4), "train"),
    validation: [],
    test: nextSentenceQuestions(sentencePairs(test, maxWords), options.testExamples, choices, deriveSeed(options.seed, 5), "test"),
  };
}

/** Every text of a task (contexts and answers), e.g. for decontamination of a training corpus. */
export function taskTexts(task: Task): string[] {
  const all: TaskExample[] = [...task.train, ...task.validation, ...task.test];
  return all.flatMap((ex) => (ex.kind === "completion" ? [`${ex.context} ${ex.target}`] : [ex.context, ...ex.choices]));
}
