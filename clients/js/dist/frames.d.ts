/** A frame the server sends (unknown types are ignored, as the protocol asks). */
export type ServerFrame = {
    type: "welcome";
    session: string;
    user: string;
    node: string;
    heartbeat_ms: number;
    cursor: string;
} | {
    type: "post";
    id: number;
    author: string;
    ts: number;
    cursor: string;
} | {
    type: "notify";
    id: number;
    kind: string;
    data: unknown;
    cursor: string;
} | {
    type: "feed_advanced";
    cursor: string;
    count: number;
} | {
    type: "resumed";
    replayed: number;
    complete: boolean;
} | {
    type: "reconnect";
    url: string;
    after_ms: number;
    reason: string;
} | {
    type: "error";
    code: string;
    message: string;
} | {
    type: "pong";
};
/** A frame the client sends. */
export type ClientFrame = {
    type: "resume";
    after: string;
} | {
    type: "refresh";
    token: string;
} | {
    type: "ping";
};
/** The typed frame in `value`, or undefined for anything unknown or malformed. */
export declare function readServerFrame(value: unknown): ServerFrame | undefined;
