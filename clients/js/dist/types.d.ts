import type { EventSourceConstructor, WebSocketConstructor } from "./transport.js";
/** How the client reaches the gateway. */
export type TransportKind = "websocket" | "sse" | "auto";
/** How WebSocket frames are encoded (SSE always carries JSON). */
export type CodecKind = "json" | "msgpack";
/** Where the connection stands. */
export type ClientState = "connecting" | "connected" | "disconnected" | "closed";
/** Bounds of the reconnect delay: full jitter, `random(0, min(maxMs, minMs * 2^attempt))`. */
export interface BackoffOptions {
    /** The first retry waits up to this long (default 500 ms). */
    minMs?: number;
    /** No retry waits longer than this (default 30,000 ms). */
    maxMs?: number;
}
export interface ClientOptions {
    /** REST base URL, e.g. `http://127.0.0.1:8080`; the socket URL comes from `GET /v1/connect`. */
    api: string;
    /** Returns a user token; called to connect and again before the token's `exp`. */
    getToken: () => Promise<string> | string;
    /** `"auto"` (default): WebSocket, and SSE when WebSocket handshakes keep failing. */
    transport?: TransportKind;
    /** `"json"` (default) or `"msgpack"` (needs the optional `@msgpack/msgpack` package). */
    codec?: CodecKind;
    /** Resume after this cursor on the first connect (what the app persisted). */
    cursor?: string;
    /** WebSocket constructor where the runtime has none (Node 20: the `ws` package). */
    WebSocket?: WebSocketConstructor;
    /** EventSource constructor where the runtime has none (Node: the `eventsource` package). */
    EventSource?: EventSourceConstructor;
    /** Reconnect delay bounds. */
    backoff?: BackoffOptions;
    /** Silence allowed past the server's `heartbeat_ms` before the socket counts as dead (5,000 ms). */
    heartbeatGraceMs?: number;
    /** An attempt that has not reached `welcome` after this long is abandoned (10,000 ms). */
    connectTimeoutMs?: number;
    /** `fetch` to use for REST (default: the global one). */
    fetch?: typeof fetch;
}
/** A new post in the user's feed. */
export interface PostItem {
    id: number;
    author: string;
    /** Creation time, microseconds since the epoch. */
    ts: number;
    /** The position after this entry: persist it as the resume point. */
    cursor: string;
}
/** A personal notification. */
export interface NotifyItem {
    id: number;
    kind: string;
    data: unknown;
    cursor: string;
}
/** The server no longer holds the whole gap since `after`: re-page the feed with `feed()`. */
export interface GapInfo {
    /** The cursor the client resumed or caught up from. */
    after: string;
    /** Entries that were still there and were emitted. */
    replayed: number;
}
/** A post body, as `GET /v1/posts` answers. */
export interface Post {
    id: number;
    author: string;
    content: string;
    media_url?: string | null;
    visibility: "public" | "followers" | "private";
    ts: number;
}
/** An entry of `GET /v1/feed` paged back in time. */
export type FeedEntry = {
    type: "post";
    id: number;
    author: string;
    ts: number;
} | {
    type: "notify";
    id: number;
    kind: string;
    data: unknown;
    ts: number;
};
/** A page of `GET /v1/feed?limit=&before=`, newest first. */
export interface FeedPage {
    items: FeedEntry[];
    /** Pass as `before` for older entries; absent at the end. */
    next?: string;
}
/** What `feed()` asks for. */
export interface FeedQuery {
    limit?: number;
    before?: string;
}
/** The events a client emits and what each listener receives. */
export interface ClientEvents {
    post: (item: PostItem) => void;
    notify: (item: NotifyItem) => void;
    state: (state: ClientState) => void;
    gap: (info: GapInfo) => void;
    error: (error: Error) => void;
}
