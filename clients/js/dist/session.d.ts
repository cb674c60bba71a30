import { PushgateError } from "./error.js";
import type { RestClient } from "./rest.js";
import type { Transport, TransportHandlers } from "./transport.js";
import type { GapInfo, NotifyItem, PostItem } from "./types.js";
/** Frames waiting behind a catch-up at most; past it the connection is dropped and resumed,
 * which refetches them from the feed instead of holding them in memory. */
export declare const MAX_PENDING_FRAMES = 10000;
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
{
    kind: "moved";
    url: string;
    afterMs: number;
}
/** The token expired or was refused: get a new one and reconnect. */
 | {
    kind: "token";
}
/** Closed on purpose to reconnect at once (SSE takes a new token this way). */
 | {
    kind: "restart";
}
/** Lost: reconnect with backoff. `opened` says whether the handshake got through. */
 | {
    kind: "lost";
    opened: boolean;
    code: number | undefined;
    reason: string;
};
/** Timing of a session. */
export interface SessionTiming {
    heartbeatGraceMs: number;
    connectTimeoutMs: number;
}
export declare class Session {
    private readonly host;
    private readonly timing;
    /** Resolves once with how the session ended. */
    readonly ended: Promise<SessionEnd>;
    /** Resolves `ended`. */
    private finish;
    /** The connection this session runs on. */
    private readonly transport;
    /** The cursor sent in `resume` (or `?after=`): replay follows, then `resumed`. */
    private readonly resumeFrom;
    /** Frames are applied one at a time, in arrival order, even across a catch-up's fetches. */
    private chain;
    /** Frames queued in `chain` and not yet applied, bounded by MAX_PENDING_FRAMES. */
    private pending;
    /** Whether the handshake got through: a failure before it may mean WebSocket is blocked. */
    private opened;
    /** Whether welcome (and the replay) are done, so `ready` is reported once. */
    private live;
    /** Whether the transport ended: frames still queued are dropped, the resume refetches them. */
    private over;
    /** Set by a `reconnect` frame: where to go when the server closes. */
    private movedTo;
    /** Set by a `token_expired` error event (SSE says so before it ends the stream). */
    private tokenRefused;
    /** Set when the client closed the session to reconnect at once. */
    private restarting;
    /** Why the client closed the session, for the `lost` end. */
    private abortReason;
    /** Pings and the silence check, from welcome on (WebSocket only). */
    private heartbeat;
    /** Gives up on an attempt that has not gone live in time. */
    private readonly connectTimer;
    constructor(host: SessionHost, open: (resumeFrom: string | undefined, handlers: TransportHandlers) => Transport, timing: SessionTiming);
    /** Whether this session can take a new token in place (`refresh`); SSE cannot. */
    get duplex(): boolean;
    /** Hand the server a new token (WebSocket), or reconnect with it (SSE). */
    renew(token: string): void;
    /** Close from the client side; `ended` resolves as lost. */
    abort(reason: string): void;
    private onOpen;
    private onFrame;
    private apply;
    /** Emit what a fold skipped: `GET /v1/feed?since=` pages up to `target`, no further, since
     * everything after it arrives live on this connection. */
    private catchUp;
    private goLive;
    private onEnd;
}
