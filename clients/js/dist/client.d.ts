import type { ClientEvents, ClientOptions, ClientState, FeedPage, FeedQuery, Post } from "./types.js";
/** Default silence past `heartbeat_ms` before a socket counts as dead. */
export declare const DEFAULT_HEARTBEAT_GRACE_MS = 5000;
/** Default time from starting an attempt to `welcome`. */
export declare const DEFAULT_CONNECT_TIMEOUT_MS = 10000;
/** In `auto` mode, WebSocket attempts that fail before the handshake completes, in a row,
 * before the client switches to SSE for good. */
export declare const WEBSOCKET_FAILURES_BEFORE_SSE = 2;
export declare class PushgateClient {
    /** The app's listeners. */
    private readonly events;
    /** What the app asked for; read at each attempt. */
    private readonly options;
    /** The app's token, renewed before `exp`; shared by the socket and REST. */
    private readonly tokens;
    /** `/v1/connect`, catch-up pages and the app's REST helpers. */
    private readonly rest;
    /** Delays between failed attempts. */
    private readonly backoff;
    /** The last cursor delivered to the app: the next resume point. */
    private currentCursor;
    /** Reported through `state` events on every change. */
    private currentState;
    /** The run loop, once `connect()` started it. */
    private running;
    /** The connection in use, to renew its token or close it. */
    private session;
    /** `connect()` calls waiting for the next live connection. */
    private waiters;
    /** Set by `close()`: the run loop stops, nothing reconnects. */
    private closed;
    /** Whether the current session is live (welcome and replay done). */
    private live;
    /** The transport chosen; `auto` falls back from WebSocket to SSE once. */
    private useSse;
    /** WebSocket handshakes that failed in a row (for the `auto` fallback). */
    private websocketFailures;
    /** The pending backoff or token-renewal timer, cancelled by `close()`. */
    private timers;
    /** Wakes the run loop from a backoff wait when the client closes. */
    private wake;
    constructor(options: ClientOptions);
    /** The last cursor delivered to the app (or the feed head after a fresh first connect):
     * persist it and pass it back as `cursor` to resume there. */
    get cursor(): string | undefined;
    get state(): ClientState;
    /** The transport in use now. */
    get transport(): "websocket" | "sse";
    /** Listen to an event; returns a function that stops listening. */
    on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void;
    off<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): void;
    /** Start (or wait for) a live connection: resolves on `welcome` and, when resuming, on the
     * end of the replay. Rejects only when the client is closed first; failures in between are
     * retried and emitted as `error`. */
    connect(): Promise<void>;
    /** Post bodies by ID (`GET /v1/posts?ids=`), the visible ones in the order asked. */
    posts(ids: readonly number[]): Promise<Post[]>;
    /** A page of the feed back in time (`GET /v1/feed?limit=&before=`), newest first. */
    feed(query?: FeedQuery): Promise<FeedPage>;
    /** Close the connection and stop reconnecting. */
    close(): void;
    private run;
    /** One connection attempt, to its end. */
    private attempt;
    /** How the next attempt goes after `end`. */
    private plan;
    /** The transport opener for `url`, or why there is none. */
    private opener;
    private webSocketClass;
    private eventSourceClass;
    /** The session's view of this client. */
    private host;
    /** Renew the token before its `exp`: in place over WebSocket, by reconnecting over SSE. */
    private scheduleRenewal;
    private sleep;
    private setState;
    private emitError;
    /** A setup error no retry can fix: report it and close. */
    private fail;
}
