//! `PushgateClient`: keeps one live connection, reconnecting and resuming by itself, and
//! emits every feed entry once, in order.

import { Backoff } from "./backoff.js";
import { loadCodec, type Codec } from "./codec.js";
import { Emitter } from "./emitter.js";
import { PushgateError } from "./error.js";
import { RestClient } from "./rest.js";
import { Session, type SessionEnd, type SessionHost } from "./session.js";
import { openEventSource } from "./sse_transport.js";
import { TokenKeeper } from "./token.js";
import type { EventSourceConstructor, WebSocketConstructor } from "./transport.js";
import type {
  ClientEvents,
  ClientOptions,
  ClientState,
  FeedPage,
  FeedQuery,
  GapInfo,
  NotifyItem,
  Post,
  PostItem,
} from "./types.js";
import { openWebSocket } from "./websocket_transport.js";

/** Default silence past `heartbeat_ms` before a socket counts as dead. */
export const DEFAULT_HEARTBEAT_GRACE_MS = 5_000;
/** Default time from starting an attempt to `welcome`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** In `auto` mode, WebSocket attempts that fail before the handshake completes, in a row,
 * before the client switches to SSE for good. */
export const WEBSOCKET_FAILURES_BEFORE_SSE = 2;

/** A waiter of `connect()`. */
interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** How an attempt ended: a session's end, or no session at all because the token or the home
 * node could not be had (which says nothing about WebSocket, so it never triggers the SSE
 * fallback). */
type AttemptEnd = SessionEnd | { kind: "unreachable" };

/** What to do before the next attempt. */
interface NextAttempt {
  /** A node URL to go to directly (from `reconnect`); otherwise ask `GET /v1/connect`. */
  url: string | undefined;
  delayMs: number;
}

export class PushgateClient {
  /** The app's listeners. */
  private readonly events = new Emitter<ClientEvents>();
  /** What the app asked for; read at each attempt. */
  private readonly options: ClientOptions;
  /** The app's token, renewed before `exp`; shared by the socket and REST. */
  private readonly tokens: TokenKeeper;
  /** `/v1/connect`, catch-up pages and the app's REST helpers. */
  private readonly rest: RestClient;
  /** Delays between failed attempts. */
  private readonly backoff: Backoff;
  /** The last cursor delivered to the app: the next resume point. */
  private currentCursor: string | undefined;
  /** Reported through `state` events on every change. */
  private currentState: ClientState = "disconnected";
  /** The run loop, once `connect()` started it. */
  private running: Promise<void> | undefined;
  /** The connection in use, to renew its token or close it. */
  private session: Session | undefined;
  /** `connect()` calls waiting for the next live connection. */
  private waiters: Waiter[] = [];
  /** Set by `close()`: the run loop stops, nothing reconnects. */
  private closed = false;
  /** Whether the current session is live (welcome and replay done). */
  private live = false;
  /** The transport chosen; `auto` falls back from WebSocket to SSE once. */
  private useSse: boolean;
  /** WebSocket handshakes that failed in a row (for the `auto` fallback). */
  private websocketFailures = 0;
  /** The pending backoff or token-renewal timer, cancelled by `close()`. */
  private timers = new Set<ReturnType<typeof setTimeout>>();
  /** Wakes the run loop from a backoff wait when the client closes. */
  private wake: (() => void) | undefined;

  constructor(options: ClientOptions) {
    this.options = options;
    this.currentCursor = options.cursor;
    this.tokens = new TokenKeeper(options.getToken);
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.rest = new RestClient(options.api, this.tokens, fetcher);
    this.backoff = new Backoff(options.backoff);
    const transport = options.transport ?? "auto";
    this.useSse = transport === "sse" || (transport === "auto" && this.webSocketClass() === undefined);
  }

  /** The last cursor delivered to the app (or the feed head after a fresh first connect):
   * persist it and pass it back as `cursor` to resume there. */
  get cursor(): string | undefined {
    return this.currentCursor;
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** The transport in use now. */
  get transport(): "websocket" | "sse" {
    return this.useSse ? "sse" : "websocket";
  }

  /** Listen to an event; returns a function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    return this.events.on(event, listener);
  }

  off<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): void {
    this.events.off(event, listener);
  }

  /** Start (or wait for) a live connection: resolves on `welcome` and, when resuming, on the
   * end of the replay. Rejects only when the client is closed first; failures in between are
   * retried and emitted as `error`. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new PushgateError("closed", "the client is closed"));
    const ready = this.live ? Promise.resolve() : new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.running ??= this.run();
    return ready;
  }

  /** Post bodies by ID (`GET /v1/posts?ids=`), the visible ones in the order asked. */
  posts(ids: readonly number[]): Promise<Post[]> {
    return this.rest.posts(ids);
  }

  /** A page of the feed back in time (`GET /v1/feed?limit=&before=`), newest first. */
  feed(query: FeedQuery = {}): Promise<FeedPage> {
    return this.rest.feed(query);
  }

  /** Close the connection and stop reconnecting. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.wake?.();
    this.session?.abort("closed by the app");
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new PushgateError("closed", "the client was closed"));
    this.setState("closed");
  }

  private async run(): Promise<void> {
    let codec: Codec;
    try {
      codec = await loadCodec(this.options.codec ?? "json");
    } catch (error) {
      this.fail(error);
      return;
    }
    let next: NextAttempt = { url: undefined, delayMs: 0 };
    while (!this.closed) {
      if (next.delayMs > 0) {
        await this.sleep(next.delayMs);
        if (this.closed) return;
      }
      this.setState("connecting");
      const end = await this.attempt(next.url, codec);
      this.live = false;
      this.session = undefined;
      if (this.closed) return;
      this.setState("disconnected");
      next = this.plan(end);
    }
  }

  /** One connection attempt, to its end. */
  private async attempt(url: string | undefined, codec: Codec): Promise<AttemptEnd> {
    let token: string;
    let target: string;
    try {
      token = await this.tokens.current();
      target = url ?? (await this.rest.home()).url;
    } catch (error) {
      this.emitError(error);
      return { kind: "unreachable" };
    }
    if (this.closed) return { kind: "restart" };
    const open = this.opener(target, token, codec);
    if (open instanceof PushgateError) {
      this.fail(open);
      return { kind: "restart" };
    }
    let session: Session;
    try {
      session = new Session(this.host(), open, {
        heartbeatGraceMs: this.options.heartbeatGraceMs ?? DEFAULT_HEARTBEAT_GRACE_MS,
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      });
    } catch (error) {
      // A constructor that throws at once (a URL it refuses): report it and retry with backoff.
      this.emitError(error);
      return { kind: "unreachable" };
    }
    this.session = session;
    const end = await session.ended;
    if (end.kind === "lost" && !end.opened) {
      if (!this.useSse) this.websocketFailures += 1;
      // Browsers hide why a handshake failed; the app at least learns that it did, and where.
      this.emitError(new PushgateError("network", `cannot connect to ${target}: ${end.reason}`));
    } else {
      this.websocketFailures = 0;
    }
    return end;
  }

  /** How the next attempt goes after `end`. */
  private plan(end: AttemptEnd): NextAttempt {
    switch (end.kind) {
      case "unreachable":
        return { url: undefined, delayMs: this.backoff.next() };
      case "moved":
        // The server spreads its clients' delays over its drain window: follow it exactly.
        this.backoff.reset();
        return { url: end.url, delayMs: end.afterMs };
      case "restart":
        return { url: undefined, delayMs: 0 };
      case "token":
        this.tokens.invalidate();
        return { url: undefined, delayMs: this.backoff.next() };
      case "lost":
        if (
          (this.options.transport ?? "auto") === "auto" &&
          !this.useSse &&
          this.websocketFailures >= WEBSOCKET_FAILURES_BEFORE_SSE &&
          this.eventSourceClass() !== undefined
        ) {
          this.useSse = true;
          return { url: undefined, delayMs: 0 };
        }
        return { url: undefined, delayMs: this.backoff.next() };
    }
  }

  /** The transport opener for `url`, or why there is none. */
  private opener(url: string, token: string, codec: Codec): ConstructorParameters<typeof Session>[1] | PushgateError {
    if (this.useSse) {
      const Source = this.eventSourceClass();
      if (Source === undefined) return new PushgateError("unsupported", "no EventSource: pass one in the options");
      return (after, handlers) => openEventSource(Source, url, token, after, handlers);
    }
    const Socket = this.webSocketClass();
    if (Socket === undefined) return new PushgateError("unsupported", "no WebSocket: pass one in the options");
    return (_after, handlers) => openWebSocket(Socket, url, token, codec, handlers);
  }

  private webSocketClass(): WebSocketConstructor | undefined {
    return this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  private eventSourceClass(): EventSourceConstructor | undefined {
    return this.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  }

  /** The session's view of this client. */
  private host(): SessionHost {
    const client = this;
    return {
      get cursor() {
        return client.currentCursor;
      },
      rest: this.rest,
      deliver(kind: "post" | "notify", item: PostItem | NotifyItem) {
        client.currentCursor = item.cursor;
        if (kind === "post") client.events.emit("post", item as PostItem);
        else client.events.emit("notify", item as NotifyItem);
      },
      advance(cursor: string) {
        client.currentCursor = cursor;
      },
      welcome(cursor: string) {
        // Only a client with nothing to resume starts at the head; a resuming one keeps its
        // cursor until the replay moved it.
        client.currentCursor ??= cursor;
      },
      ready() {
        client.live = true;
        client.backoff.reset();
        client.setState("connected");
        client.scheduleRenewal();
        const waiters = client.waiters;
        client.waiters = [];
        for (const waiter of waiters) waiter.resolve();
      },
      gap(info: GapInfo) {
        client.events.emit("gap", info);
      },
      error(error: PushgateError) {
        client.events.emit("error", error);
      },
    };
  }

  /** Renew the token before its `exp`: in place over WebSocket, by reconnecting over SSE. */
  private scheduleRenewal(): void {
    const delay = this.tokens.msUntilRenewal();
    const session = this.session;
    if (delay === undefined || session === undefined) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed || this.session !== session) return;
      this.tokens.renew().then(
        (token) => {
          if (this.closed || this.session !== session) return;
          session.renew(token);
          if (session.duplex) this.scheduleRenewal();
        },
        (error: unknown) => {
          this.emitError(error);
          session.abort("token renewal failed");
        },
      );
    }, delay);
    this.timers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.wake = undefined;
        resolve();
      }, ms);
      this.timers.add(timer);
      this.wake = resolve;
    });
  }

  private setState(state: ClientState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.events.emit("state", state);
  }

  private emitError(error: unknown): void {
    this.events.emit("error", error instanceof Error ? error : new PushgateError("network", String(error)));
  }

  /** A setup error no retry can fix: report it and close. */
  private fail(error: unknown): void {
    const failure = error instanceof Error ? error : new PushgateError("unsupported", String(error));
    this.events.emit("error", failure);
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(failure);
    this.close();
  }
}
