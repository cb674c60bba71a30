//! One connection from open to end: resume first, apply frames in order, catch up after a
//! fold, watch heartbeats, and say how it ended so the client knows where to go next.

import { isPast, parseCursor } from "./cursor.js";
import { PushgateError } from "./error.js";
import { readServerFrame, type ServerFrame } from "./frames.js";
import { Heartbeat } from "./heartbeat.js";
import type { RestClient } from "./rest.js";
import type { Transport, TransportEnd, TransportHandlers } from "./transport.js";
import type { GapInfo, NotifyItem, PostItem } from "./types.js";

/** Frames waiting behind a catch-up at most; past it the connection is dropped and resumed,
 * which refetches them from the feed instead of holding them in memory. */
export const MAX_PENDING_FRAMES = 10_000;

/** What a session needs from its client. */
export interface SessionHost {
  /** The last cursor delivered to the app. */
  readonly cursor: string | undefined;
  readonly rest: RestClient;
  /** Emit a feed entry and make its cursor the client's. */
  deliver(kind: "post", item: PostItem): void;
  deliver(kind: "notify", item: NotifyItem): void;
  /** Move the cursor without emitting (the end of a `feed_advanced` catch-up). */
  advance(cursor: string): void;
  /** The server greeted us; `cursor` is the feed head. */
  welcome(cursor: string): void;
  /** Welcome and resume replay are done: the connection is live. */
  ready(): void;
  gap(info: GapInfo): void;
  error(error: PushgateError): void;
}

/** How a session ended, which decides the next attempt. */
export type SessionEnd =
  /** The node drains: wait `afterMs`, then connect to `url`. */
  | { kind: "moved"; url: string; afterMs: number }
  /** The token expired or was refused: get a new one and reconnect. */
  | { kind: "token" }
  /** Closed on purpose to reconnect at once (SSE takes a new token this way). */
  | { kind: "restart" }
  /** Lost: reconnect with backoff. `opened` says whether the handshake got through. */
  | { kind: "lost"; opened: boolean; code: number | undefined; reason: string };

/** Timing of a session. */
export interface SessionTiming {
  heartbeatGraceMs: number;
  connectTimeoutMs: number;
}

/** Close codes after which a new token is needed (PROTOCOL.md "Close codes"). */
const TOKEN_CLOSE_CODES = new Set([4001, 4002]);

export class Session {
  /** Resolves once with how the session ended. */
  readonly ended: Promise<SessionEnd>;
  /** Resolves `ended`. */
  private finish!: (end: SessionEnd) => void;
  /** The connection this session runs on. */
  private readonly transport: Transport;
  /** The cursor sent in `resume` (or `?after=`): replay follows, then `resumed`. */
  private readonly resumeFrom: string | undefined;
  /** Frames are applied one at a time, in arrival order, even across a catch-up's fetches. */
  private chain: Promise<void> = Promise.resolve();
  /** Frames queued in `chain` and not yet applied, bounded by MAX_PENDING_FRAMES. */
  private pending = 0;
  /** Whether the handshake got through: a failure before it may mean WebSocket is blocked. */
  private opened = false;
  /** Whether welcome (and the replay) are done, so `ready` is reported once. */
  private live = false;
  /** Whether the transport ended: frames still queued are dropped, the resume refetches them. */
  private over = false;
  /** Set by a `reconnect` frame: where to go when the server closes. */
  private movedTo: { url: string; afterMs: number } | undefined;
  /** Set by a `token_expired` error event (SSE says so before it ends the stream). */
  private tokenRefused = false;
  /** Set when the client closed the session to reconnect at once. */
  private restarting = false;
  /** Why the client closed the session, for the `lost` end. */
  private abortReason: string | undefined;
  /** Pings and the silence check, from welcome on (WebSocket only). */
  private heartbeat: Heartbeat | undefined;
  /** Gives up on an attempt that has not gone live in time. */
  private readonly connectTimer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly host: SessionHost,
    open: (resumeFrom: string | undefined, handlers: TransportHandlers) => Transport,
    private readonly timing: SessionTiming,
  ) {
    this.ended = new Promise((resolve) => (this.finish = resolve));
    this.resumeFrom = host.cursor;
    this.transport = open(this.resumeFrom, {
      open: () => this.onOpen(),
      frame: (value) => this.onFrame(value),
      end: (end) => this.onEnd(end),
    });
    this.connectTimer = setTimeout(() => {
      if (!this.live) this.abort("no welcome in time");
    }, timing.connectTimeoutMs);
  }

  /** Whether this session can take a new token in place (`refresh`); SSE cannot. */
  get duplex(): boolean {
    return this.transport.duplex;
  }

  /** Hand the server a new token (WebSocket), or reconnect with it (SSE). */
  renew(token: string): void {
    if (this.transport.duplex) {
      this.transport.send({ type: "refresh", token });
    } else {
      this.restarting = true;
      this.transport.close();
    }
  }

  /** Close from the client side; `ended` resolves as lost. */
  abort(reason: string): void {
    if (this.over) return;
    this.abortReason = reason;
    this.transport.close();
  }

  private onOpen(): void {
    this.opened = true;
    // The resume goes first, within the server's resume window, so it replays before live pushes.
    if (this.resumeFrom !== undefined && this.transport.duplex) {
      this.transport.send({ type: "resume", after: this.resumeFrom });
    }
  }

  private onFrame(value: unknown): void {
    if (this.over) return;
    this.heartbeat?.seen();
    const frame = readServerFrame(value);
    if (frame === undefined) return;
    if (this.pending >= MAX_PENDING_FRAMES) {
      this.abort("too many frames behind a catch-up");
      return;
    }
    this.pending += 1;
    this.chain = this.chain
      .then(() => (this.over ? undefined : this.apply(frame)))
      .catch((error: unknown) => {
        // A catch-up failed (REST unreachable): resuming on a new connection refetches it.
        this.host.error(error instanceof PushgateError ? error : new PushgateError("network", String(error)));
        this.abort("catch-up failed");
      })
      .finally(() => {
        this.pending -= 1;
      });
  }

  private async apply(frame: ServerFrame): Promise<void> {
    switch (frame.type) {
      case "welcome":
        this.host.welcome(frame.cursor);
        if (this.transport.duplex) {
          this.heartbeat = new Heartbeat(
            frame.heartbeat_ms,
            this.timing.heartbeatGraceMs,
            () => this.transport.send({ type: "ping" }),
            () => this.abort("heartbeat missed"),
          );
        }
        if (this.resumeFrom === undefined) this.goLive();
        return;
      case "post":
        this.host.deliver("post", { id: frame.id, author: frame.author, ts: frame.ts, cursor: frame.cursor });
        return;
      case "notify":
        this.host.deliver("notify", { id: frame.id, kind: frame.kind, data: frame.data, cursor: frame.cursor });
        return;
      case "feed_advanced":
        await this.catchUp(frame.cursor);
        return;
      case "resumed":
        if (!frame.complete) this.host.gap({ after: this.resumeFrom ?? "", replayed: frame.replayed });
        this.goLive();
        return;
      case "reconnect":
        this.movedTo = { url: frame.url, afterMs: frame.after_ms };
        return;
      case "error":
        if (frame.code === "token_expired" || (frame.code === "unauthorized" && !this.transport.duplex)) {
          this.tokenRefused = true;
        }
        this.host.error(new PushgateError(frame.code, frame.message));
        return;
      case "pong":
        return;
    }
  }

  /** Emit what a fold skipped: `GET /v1/feed?since=` pages up to `target`, no further, since
   * everything after it arrives live on this connection. */
  private async catchUp(target: string): Promise<void> {
    const end = parseCursor(target);
    let since = this.host.cursor;
    if (since === undefined || end === undefined) {
      throw new PushgateError("bad_response", `cannot catch up from ${String(since)} to ${target}`);
    }
    const from = since;
    let gapReported = false;
    for (;;) {
      const page = await this.host.rest.since(since);
      if (this.over) return;
      if (!page.complete && !gapReported) {
        gapReported = true;
        this.host.gap({ after: from, replayed: page.items.length });
      }
      for (const item of page.items) {
        const at = parseCursor(item.cursor);
        if (at === undefined || isPast(at, end)) {
          this.host.advance(target);
          return;
        }
        if (item.type === "post") {
          this.host.deliver("post", { id: item.id, author: item.author, ts: item.ts, cursor: item.cursor });
        } else {
          this.host.deliver("notify", { id: item.id, kind: item.kind, data: item.data, cursor: item.cursor });
        }
      }
      if (!page.more || page.items.length === 0) break;
      since = page.cursor;
    }
    this.host.advance(target);
  }

  private goLive(): void {
    if (this.live) return;
    this.live = true;
    clearTimeout(this.connectTimer);
    this.host.ready();
  }

  private onEnd(end: TransportEnd): void {
    if (this.over) return;
    this.over = true;
    clearTimeout(this.connectTimer);
    this.heartbeat?.stop();
    if (this.restarting) {
      this.finish({ kind: "restart" });
    } else if (this.movedTo !== undefined) {
      this.finish({ kind: "moved", ...this.movedTo });
    } else if (this.tokenRefused || (end.code !== undefined && TOKEN_CLOSE_CODES.has(end.code))) {
      this.finish({ kind: "token" });
    } else {
      this.finish({ kind: "lost", opened: this.opened, code: end.code, reason: this.abortReason ?? end.reason });
    }
  }
}
