//! The Server-Sent Events transport (`GET /v1/sse`): for networks that block WebSockets.
//!
//! The EventSource's own reconnect is not used: when the stream ends the client closes it and
//! reconnects itself, so it can pick a node, renew the token and resume from its own cursor
//! (`?after=`), exactly as over WebSocket.

import type { EventSourceConstructor, StreamEvent, Transport, TransportHandlers } from "./transport.js";

/** The event names the server sends; each event's `data` is the JSON frame. */
const EVENTS = ["welcome", "post", "notify", "feed_advanced", "resumed", "reconnect", "error"] as const;

/** The SSE URL of a node, from the WebSocket URL `/v1/connect` or `reconnect` names. */
export function sseUrl(websocketUrl: string): string {
  const url = new URL(websocketUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : url.protocol === "ws:" ? "http:" : url.protocol;
  url.pathname = url.pathname.replace(/\/v1\/ws$/, "/v1/sse");
  return url.toString();
}

/** Open the stream at `url` for `token`, resuming after `after` when set. */
export function openEventSource(
  Source: EventSourceConstructor,
  url: string,
  token: string,
  after: string | undefined,
  handlers: TransportHandlers,
): Transport {
  const target = new URL(sseUrl(url));
  target.searchParams.set("access_token", token);
  if (after !== undefined) target.searchParams.set("after", after);
  const source = new Source(target.toString());
  let ended = false;
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    source.close();
    handlers.end({ code: undefined, reason });
  };
  source.addEventListener("open", () => handlers.open());
  for (const name of EVENTS) {
    source.addEventListener(name, (event: StreamEvent) => {
      if (ended) return;
      // A connection error is also an `error` event, but without data.
      if (typeof event.data !== "string") {
        if (name === "error") end("stream ended");
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(event.data);
      } catch {
        return;
      }
      handlers.frame(value);
    });
  }
  return {
    duplex: false,
    send() {
      // One-way: the resume point travels in the URL, a new token in a new stream.
    },
    close() {
      end("closed by client");
    },
  };
}
