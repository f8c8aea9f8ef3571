// Errors of the command line itself.

/** A bad command line: an invalid flag value, or flags that cannot go together. Exit code 2 (usage). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Runs `parse` (flag values into typed options); any error it throws is a usage error. */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError((err as Error).message, { cause: err });
  }
}
