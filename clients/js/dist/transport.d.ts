import type { ClientFrame } from "./frames.js";
/** The event of a WebSocket `message`. */
export interface SocketMessageEvent {
    readonly data: unknown;
}
/** The event of a WebSocket `close`. */
export interface SocketCloseEvent {
    readonly code: number;
    readonly reason: string;
}
/** What the SDK uses of a WebSocket. Listener parameters are declared as methods so the
 * browser's and `ws`'s own event types both fit. */
export interface WebSocketLike {
    binaryType: string;
    send(data: string | Uint8Array): void;
    close(code?: number, reason?: string): void;
    addEventListener(type: "open", listener: (event: unknown) => void): void;
    addEventListener(type: "message", listener: (event: SocketMessageEvent) => void): void;
    addEventListener(type: "close", listener: (event: SocketCloseEvent) => void): void;
    addEventListener(type: "error", listener: (event: unknown) => void): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
/** The event of a named SSE event (`data` is the JSON frame) or of a connection error. */
export interface StreamEvent {
    readonly data?: unknown;
}
/** What the SDK uses of an EventSource. */
export interface EventSourceLike {
    close(): void;
    addEventListener(type: string, listener: (event: StreamEvent) => void): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;
/** Why a connection ended. */
export interface TransportEnd {
    /** The WebSocket close code, when the server sent one. */
    code: number | undefined;
    reason: string;
}
/** Callbacks of one connection; `end` is called exactly once. */
export interface TransportHandlers {
    open(): void;
    frame(value: unknown): void;
    end(end: TransportEnd): void;
}
/** One open (or opening) connection. */
export interface Transport {
    /** Whether the client can send frames (WebSocket) or only listens (SSE). */
    readonly duplex: boolean;
    send(frame: ClientFrame): void;
    /** Close from this side; `end` follows. */
    close(): void;
}
