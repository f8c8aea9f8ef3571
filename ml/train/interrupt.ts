// Ctrl-C while training: the first SIGINT (or SIGTERM) aborts `controller` so the loop stops after the
// step in flight and saves a checkpoint; a second one exits at once (status 130) for a user who really
// wants out. Returns a function that removes the handlers.
/** The signal a `stopOnSignals` controller was aborted by, if a signal (not a caller's own abort) did. */
export function signalOf(signal: AbortSignal): NodeJS.Signals | undefined {
  return signal.aborted && typeof signal.reason === "string" && signal.reason.startsWith("SIG")
    ? (signal.reason as NodeJS.Signals)
    : undefined;
}

export function stopOnSignals(
  controller: AbortController,
  onFirst: (signal: NodeJS.Signals) => void,
  signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM"],
): () => void {
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\nsecond ${sig}: exiting without a checkpoint\n`);
      process.exit(130);
    }
    controller.abort(sig);
    onFirst(sig);
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
