// Parsing command-line values into numbers with one clear error line naming the option.

export function wholeNumber(option: string, text: string, min = 0): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new Error(`${option} must be a whole number >= ${min}, got '${text}'`);
  }
  return n;
}

export function realNumber(option: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new Error(`${option} must be a number in [${min}, ${max}], got '${text}'`);
  }
  return n;
}

/** "0,1,5" → [0, 1, 5] (distinct, in the order given). */
export function wholeNumberList(option: string, text: string): number[] {
  const values = text.split(",").map((part) => wholeNumber(option, part.trim()));
  return [...new Set(values)];
}
