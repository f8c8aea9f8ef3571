// Held-out validation documents: a fixed number per genre, chosen by a seeded shuffle of the
// genre's ids (sorted first, so the choice does not depend on input order).
import { DataOptionError } from "./errors.ts";
import { hashInts, seededShuffle } from "./seeded-random.ts";
import type { CorpusDocument, SplitOptions } from "./types.ts";

export const defaultSplit: SplitOptions = { validPerGenre: 2, seed: 1234 };

export interface CorpusSplit {
  train: CorpusDocument[];
  valid: CorpusDocument[];
}

/**
 * Splits documents into train and validation, keeping corpus order within each part.
 * Example: Brown (15 genres) with validPerGenre 2 → 30 validation documents, 470 training documents.
 * A genre with ≤ validPerGenre documents keeps at least one for training.
 */
export function splitDocuments(docs: readonly CorpusDocument[], options: Partial<SplitOptions> = {}): CorpusSplit {
  const { validPerGenre, seed } = { ...defaultSplit, ...options };
  if (!Number.isInteger(validPerGenre) || validPerGenre < 0) {
    throw new DataOptionError(`split.validPerGenre must be an integer ≥ 0, got ${validPerGenre}`);
  }
  const ids = new Set<string>();
  const byGenre = new Map<string, string[]>();
  for (const d of docs) {
    if (ids.has(d.id)) throw new DataOptionError(`document id "${d.id}" appears twice`);
    ids.add(d.id);
    const list = byGenre.get(d.genre) ?? [];
    list.push(d.id);
    byGenre.set(d.genre, list);
  }
  const held = new Set<string>();
  for (const [genre, genreIds] of [...byGenre].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const take = Math.min(validPerGenre, genreIds.length - 1);
    const genreSeed = hashInts(seed, ...Array.from(genre, (c) => c.codePointAt(0)!));
    for (const id of seededShuffle(genreIds.sort(), genreSeed).slice(0, take)) held.add(id);
  }
  return { train: docs.filter((d) => !held.has(d.id)), valid: docs.filter((d) => held.has(d.id)) };
}
