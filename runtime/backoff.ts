// Exponential backoff with jitter for restarts, and OTP restart intensity.
import { issueText } from "./zod-issue.ts";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import type { BackoffPolicy, Intensity } from "./types.ts";

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 50, maxMs: 5000, jitter: 0.2 };
const DEFAULT_INTENSITY: Intensity = { maxRestarts: 5, periodMs: 10_000 };

/**
 * Delay before restart number `attempt` (1-based, counted within the intensity period):
 * initial · 2^(attempt-1), capped at max, times a uniform factor in [1-jitter, 1+jitter].
 * Example with {initialMs: 100, maxMs: 1000, jitter: 0}: 100, 200, 400, 800, 1000, 1000, …
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * factor));
}

/** Sliding-window restart counter: `allow(now)` records a restart and says whether it is within intensity. */
export class RestartIntensity {
  private times: number[] = [];

  constructor(readonly limit: Intensity) {}

  /** Restarts recorded within the period ending at `now`. */
  count(now: number): number {
    this.times = this.times.filter((t) => now - t < this.limit.periodMs);
    return this.times.length;
  }

  allow(now: number): boolean {
    this.count(now);
    this.times.push(now);
    return this.times.length <= this.limit.maxRestarts;
  }

  reset(): void {
    this.times = [];
  }
}

const backoffSchema = z.object({
  initialMs: z.number().int().min(0),
  maxMs: z.number().int().min(0),
  jitter: z.number().min(0).max(1),
});
const intensitySchema = z.object({ maxRestarts: z.number().int().min(0), periodMs: z.number().int().positive() });

export function validateBackoff(partial: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const r = backoffSchema.safeParse({ ...DEFAULT_BACKOFF, ...partial });
  if (!r.success) throw new ConfigError(issueText(r.error, { quote: "", prefix: "backoff" }));
  if (r.data.maxMs < r.data.initialMs)
    throw new ConfigError(`backoff.maxMs=${r.data.maxMs} is below backoff.initialMs=${r.data.initialMs}`);
  return r.data;
}

export function validateIntensity(partial: Partial<Intensity> = {}): Intensity {
  const r = intensitySchema.safeParse({ ...DEFAULT_INTENSITY, ...partial });
  if (!r.success) throw new ConfigError(issueText(r.error, { quote: "", prefix: "intensity" }));
  return r.data;
}
