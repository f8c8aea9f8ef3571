// Plain-text tables for the terminal: columns padded to their widest cell, numbers right-aligned.

export type Cell = string | number;

/** Text that reads as a number (or nothing): such columns are right-aligned too. */
const NUMBER_TEXT = /^(|-|[-+]?\d+(\.\d+)?(e[-+]?\d+)?)$/i;

/** A metric value with fixed decimals (exponent form when large), so 0 prints as 0.0000. */
export function fixed(value: number, digits = 4): string {
  if (Number.isNaN(value)) return "-";
  return Math.abs(value) >= 1e4 ? value.toExponential(2) : value.toFixed(digits);
}

function render(cell: Cell, digits: number): string {
  if (typeof cell === "string") return cell;
  if (Number.isNaN(cell)) return "-";
  if (Number.isInteger(cell)) return String(cell);
  return fixed(cell, digits);
}

export function formatTable(headers: string[], rows: Cell[][], digits = 4): string {
  const text = rows.map((row) => row.map((c) => render(c, digits)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number" || NUMBER_TEXT.test(String(r[i] ?? ""))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}
