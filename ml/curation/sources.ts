// Where documents come from: Brown genres, plain text files, one-document-per-file folders, JSONL,
// and synthetic low-quality text derived from any of those (quality-filter negatives).
import { SourceError } from "./errors.ts";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { loadBrown } from "./brown.ts";
import { corrupt, CORRUPTION_KINDS, type CorruptionKind } from "./corrupt.ts";

export type SourceSpec =
  | { brown: string | string[] }
  | { text: string; split?: "file" | "paragraph" | "line" }
  | { folder: string; extensions?: string[] }
  | { jsonl: string; field?: string }
  | { corrupted: SourceSpec; kinds?: CorruptionKind[] };

export interface SourceText {
  /** Unique within the source: Brown file id, file path relative to the source, or line number. */
  id: string;
  text: string;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new SourceError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function listFiles(dir: string, extensions: readonly string[] | undefined): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new SourceError(`cannot read folder ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(full, extensions));
    else if (e.isFile() && !e.name.startsWith(".") && (!extensions || extensions.some((x) => e.name.endsWith(x)))) out.push(full);
  }
  return out;
}

/** Every document of one source, in a deterministic order. Relative paths resolve against `baseDir`. */
export function loadSource(spec: SourceSpec, baseDir: string): SourceText[] {
  if ("brown" in spec) {
    const genres = typeof spec.brown === "string" ? [spec.brown] : spec.brown;
    try {
      return loadBrown(genres).map((d) => ({ id: d.id, text: d.text }));
    } catch (err) {
      throw new SourceError((err as Error).message, { cause: err });
    }
  }
  if ("text" in spec) {
    const file = path.resolve(baseDir, spec.text);
    const content = readText(file);
    const split = spec.split ?? "paragraph";
    const parts = split === "file" ? [content] : split === "line" ? content.split("\n") : content.split(/\n\s*\n/);
    return parts.map((text, i) => ({ id: `${path.basename(file)}:${i}`, text })).filter((d) => d.text.trim().length > 0);
  }
  if ("folder" in spec) {
    const dir = path.resolve(baseDir, spec.folder);
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new SourceError(`folder ${dir} does not exist`);
    return listFiles(dir, spec.extensions).map((f) => ({ id: path.relative(dir, f), text: readText(f) }));
  }
  if ("jsonl" in spec) {
    const file = path.resolve(baseDir, spec.jsonl);
    const field = spec.field ?? "text";
    const out: SourceText[] = [];
    readText(file)
      .split("\n")
      .forEach((line, i) => {
        if (line.trim() === "") return;
        let value: unknown;
        try {
          value = (JSON.parse(line) as Record<string, unknown>)[field];
        } catch (err) {
          throw new SourceError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`, { cause: err });
        }
        if (typeof value !== "string") throw new SourceError(`${file}:${i + 1}: field "${field}" is missing or not a string`);
        out.push({ id: `${path.basename(file)}:${i + 1}`, text: value });
      });
    return out;
  }
  const kinds = spec.kinds ?? CORRUPTION_KINDS;
  return loadSource(spec.corrupted, baseDir).map((d, i) => {
    const kind = kinds[i % kinds.length]!;
    return { id: `${d.id}~${kind}`, text: corrupt(d.text, kind, i) };
  });
}

/** A short human name of a source, for reports. */
export function describeSource(spec: SourceSpec): string {
  if ("brown" in spec) return `brown:${[spec.brown].flat().join("+")}`;
  if ("text" in spec) return `text:${spec.text}`;
  if ("folder" in spec) return `folder:${spec.folder}`;
  if ("jsonl" in spec) return `jsonl:${spec.jsonl}`;
  return `corrupted(${describeSource(spec.corrupted)})`;
}
