// 32-bit hashing and a seeded generator. Everything here is deterministic across runs and
// machines, which the dedup and blend stages rely on for reproducible output.

/** Murmur3's 32-bit finaliser: spreads every input bit over the whole word. */
export function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units text[start, end), finalised with fmix32. */
export function hashRange(text: string, start: number, end: number, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** Hash of a whole string. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  return hashRange(text, 0, text.length, seed);
}
