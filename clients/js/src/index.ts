//! `@pushgate/client`: the pushgate SDK for browsers and Node >= 20.

export { PushgateClient, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HEARTBEAT_GRACE_MS } from "./client.js";
export { Backoff, DEFAULT_BACKOFF_MAX_MS, DEFAULT_BACKOFF_MIN_MS } from "./backoff.js";
export { PushgateError } from "./error.js";
export type { EventSourceConstructor, EventSourceLike, WebSocketConstructor, WebSocketLike } from "./transport.js";
export type {
  BackoffOptions,
  ClientEvents,
  ClientOptions,
  ClientState,
  CodecKind,
  FeedEntry,
  FeedPage,
  FeedQuery,
  GapInfo,
  NotifyItem,
  Post,
  PostItem,
  TransportKind,
} from "./types.js";
