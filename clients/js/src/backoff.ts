//! Reconnect delays: exponential with full jitter, so a crowd of clients that lost the same
//! node does not come back in lockstep.

import type { BackoffOptions } from "./types.js";

/** The first retry waits at most this long by default. */
export const DEFAULT_BACKOFF_MIN_MS = 500;
/** No retry waits longer than this by default. */
export const DEFAULT_BACKOFF_MAX_MS = 30_000;

/** Counts failed attempts and says how long to wait before the next one. */
export class Backoff {
  /** Lower end of the doubling range. */
  private readonly minMs: number;
  /** Cap of the range. */
  private readonly maxMs: number;
  /** Failures since the last success: the exponent. */
  private attempt = 0;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.minMs = Math.max(0, options.minMs ?? DEFAULT_BACKOFF_MIN_MS);
    this.maxMs = Math.max(this.minMs, options.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  }

  /** The delay before the next attempt: uniform in [0, min(max, min * 2^failures)). */
  next(): number {
    // 2^30 already exceeds any sane cap; stop doubling so the number stays finite.
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.floor(this.random() * ceiling);
  }

  /** A connection got through: start over from the smallest range. */
  reset(): void {
    this.attempt = 0;
  }
}
