import type { BackoffOptions } from "./types.js";
/** The first retry waits at most this long by default. */
export declare const DEFAULT_BACKOFF_MIN_MS = 500;
/** No retry waits longer than this by default. */
export declare const DEFAULT_BACKOFF_MAX_MS = 30000;
/** Counts failed attempts and says how long to wait before the next one. */
export declare class Backoff {
    private readonly random;
    /** Lower end of the doubling range. */
    private readonly minMs;
    /** Cap of the range. */
    private readonly maxMs;
    /** Failures since the last success: the exponent. */
    private attempt;
    constructor(options?: BackoffOptions, random?: () => number);
    /** The delay before the next attempt: uniform in [0, min(max, min * 2^failures)). */
    next(): number;
    /** A connection got through: start over from the smallest range. */
    reset(): void;
}
