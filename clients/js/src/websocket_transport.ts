//! The WebSocket transport: the subprotocol names the codec, every message is one frame.

import type { Codec } from "./codec.js";
import type { ClientFrame } from "./frames.js";
import type { Transport, TransportHandlers, WebSocketConstructor } from "./transport.js";

/** Connect to `url` (the gateway's `/v1/ws`) with the token in `access_token`, as browsers must. */
export function openWebSocket(
  Socket: WebSocketConstructor,
  url: string,
  token: string,
  codec: Codec,
  handlers: TransportHandlers,
): Transport {
  const target = new URL(url);
  target.searchParams.set("access_token", token);
  const socket = new Socket(target.toString(), [codec.subprotocol]);
  socket.binaryType = "arraybuffer";
  let ended = false;
  const end = (code: number | undefined, reason: string) => {
    if (ended) return;
    ended = true;
    handlers.end({ code, reason });
  };
  socket.addEventListener("open", () => handlers.open());
  socket.addEventListener("message", (event) => {
    if (ended) return;
    let value: unknown;
    try {
      value = codec.decode(event.data);
    } catch {
      // A frame we cannot decode is skipped, as an unknown frame type would be.
      return;
    }
    handlers.frame(value);
  });
  socket.addEventListener("close", (event) => end(event.code, event.reason));
  // Browsers follow an error with close; `ws` may not when the handshake fails.
  socket.addEventListener("error", () => end(undefined, "socket error"));
  return {
    duplex: true,
    send(frame: ClientFrame) {
      if (ended) return;
      try {
        socket.send(codec.encode(frame));
      } catch {
        // Not open (any more): the close event ends the connection.
      }
    },
    close() {
      try {
        socket.close(1000);
      } catch {
        // Closing a socket that never opened can throw; it is over either way.
      }
      end(undefined, "closed by client");
    },
  };
}
