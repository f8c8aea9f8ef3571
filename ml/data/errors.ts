// Error classes of the data part.

/** A dataset or tokenizer file is missing, truncated or not in the expected format. */
export class DataFileError extends Error {
  override name = "DataFileError";
  constructor(
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${problem}`, options);
  }
}

/** Options that cannot work (a vocabulary too small, a sequence longer than the data, …). */
export class DataOptionError extends RangeError {
  override name = "DataOptionError";
}
