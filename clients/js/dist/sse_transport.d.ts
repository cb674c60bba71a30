import type { EventSourceConstructor, Transport, TransportHandlers } from "./transport.js";
/** The SSE URL of a node, from the WebSocket URL `/v1/connect` or `reconnect` names. */
export declare function sseUrl(websocketUrl: string): string;
/** Open the stream at `url` for `token`, resuming after `after` when set. */
export declare function openEventSource(Source: EventSourceConstructor, url: string, token: string, after: string | undefined, handlers: TransportHandlers): Transport;
