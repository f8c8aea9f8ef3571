// The timeout hierarchy heartbeat < suspect < kill < step, validated once so a config that could
// never work (e.g. suspecting an actor before it could have beaten twice) is refused up front.
import { issueText } from "./zod-issue.ts";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import type { Timeouts } from "./types.ts";

const DEFAULT_TIMEOUTS: Timeouts = {
  heartbeatMs: 200,
  suspectMs: 700,
  killMs: 1500,
  stepMs: 60_000,
  startMs: 20_000,
};

const positive = z.number().int().positive();
const timeoutsSchema = z.object({
  heartbeatMs: positive,
  suspectMs: positive,
  killMs: positive,
  stepMs: positive,
  startMs: positive,
});

/** Fills defaults, checks types and the ordering; throws ConfigError naming the broken pair. */
export function validateTimeouts(partial: Partial<Timeouts> = {}): Timeouts {
  const parsed = timeoutsSchema.safeParse({ ...DEFAULT_TIMEOUTS, ...partial });
  if (!parsed.success) {
    throw new ConfigError(issueText(parsed.error, { quote: "", prefix: "timeouts" }));
  }
  const t = parsed.data;
  const chain: [keyof Timeouts, keyof Timeouts][] = [
    ["heartbeatMs", "suspectMs"],
    ["suspectMs", "killMs"],
    ["killMs", "stepMs"],
    ["heartbeatMs", "startMs"],
  ];
  for (const [lo, hi] of chain) {
    if (!(t[lo] < t[hi])) {
      throw new ConfigError(
        `timeouts must satisfy heartbeat < suspect < kill < step (and heartbeat < start): ${lo}=${t[lo]} is not below ${hi}=${t[hi]}`,
      );
    }
  }
  if (t.suspectMs < 2 * t.heartbeatMs) {
    throw new ConfigError(
      `timeouts.suspectMs=${t.suspectMs} must be at least two heartbeats (2 × ${t.heartbeatMs} ms), or one late beat makes an actor suspect`,
    );
  }
  return t;
}
