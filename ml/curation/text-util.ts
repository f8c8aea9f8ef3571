// Small text helpers used by several stages.

const encoder = new TextEncoder();

/** UTF-8 size of a string in bytes (what "bytes removed" counts). */
export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

/** Total UTF-8 bytes of a list of texts. */
export function totalBytes(texts: Iterable<{ text: string }>): number {
  let sum = 0;
  for (const t of texts) sum += utf8Bytes(t.text);
  return sum;
}

/** A one-line excerpt for reports: whitespace collapsed, cut to `max` characters. */
export function excerpt(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
