import type { Codec } from "./codec.js";
import type { Transport, TransportHandlers, WebSocketConstructor } from "./transport.js";
/** Connect to `url` (the gateway's `/v1/ws`) with the token in `access_token`, as browsers must. */
export declare function openWebSocket(Socket: WebSocketConstructor, url: string, token: string, codec: Codec, handlers: TransportHandlers): Transport;
