//! Noticing a dead socket: the client pings every `heartbeat_ms` and gives up on a connection
//! that stayed silent for `heartbeat_ms` plus a grace period. Application pings, because
//! browsers hide WebSocket-level pings from scripts.

/** Pings on an interval and calls `dead` once after too long without inbound traffic. */
export class Heartbeat {
  /** The ping interval. */
  private readonly pinger: ReturnType<typeof setInterval>;
  /** The silence check, re-armed for the moment silence would reach the limit. */
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  /** When anything last arrived. */
  private lastSeen = Date.now();
  /** The silence that counts as dead. */
  private readonly limitMs: number;

  constructor(
    intervalMs: number,
    graceMs: number,
    ping: () => void,
    private readonly dead: () => void,
  ) {
    this.limitMs = intervalMs + graceMs;
    this.pinger = setInterval(ping, Math.max(intervalMs, 100));
    this.arm(this.limitMs);
  }

  /** Something arrived: the connection is alive. */
  seen(): void {
    this.lastSeen = Date.now();
  }

  stop(): void {
    clearInterval(this.pinger);
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private arm(delayMs: number): void {
    this.watchdog = setTimeout(() => {
      const silent = Date.now() - this.lastSeen;
      if (silent >= this.limitMs) {
        this.stop();
        this.dead();
      } else {
        // Re-armed lazily rather than on every message: one timer per silence period.
        this.arm(this.limitMs - silent);
      }
    }, delayMs);
  }
}
