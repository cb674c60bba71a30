// src/backoff.ts
var DEFAULT_BACKOFF_MIN_MS = 500;
var DEFAULT_BACKOFF_MAX_MS = 3e4;
var Backoff = class {
  constructor(options = {}, random = Math.random) {
    this.random = random;
    /** Failures since the last success: the exponent. */
    this.attempt = 0;
    this.minMs = Math.max(0, options.minMs ?? DEFAULT_BACKOFF_MIN_MS);
    this.maxMs = Math.max(this.minMs, options.maxMs ?? DEFAULT_BACKOFF_MAX_MS);
  }
  /** The delay before the next attempt: uniform in [0, min(max, min * 2^failures)). */
  next() {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.floor(this.random() * ceiling);
  }
  /** A connection got through: start over from the smallest range. */
  reset() {
    this.attempt = 0;
  }
};

// src/error.ts
var PushgateError = class extends Error {
  constructor(code, message, status) {
    super(message);
    this.name = "PushgateError";
    this.code = code;
    this.status = status;
  }
};

// src/codec.ts
var jsonCodec = {
  subprotocol: "pushgate.v1.json",
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => typeof data === "string" ? JSON.parse(data) : void 0
};
async function loadCodec(kind) {
  if (kind === "json") return jsonCodec;
  let msgpack;
  try {
    const name = "@msgpack/msgpack";
    msgpack = await import(
      /* @vite-ignore */
      name
    );
  } catch {
    throw new PushgateError("unsupported", 'codec "msgpack" needs the @msgpack/msgpack package');
  }
  return {
    subprotocol: "pushgate.v1.msgpack",
    encode: (frame) => msgpack.encode(frame),
    decode: (data) => data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? msgpack.decode(data instanceof ArrayBuffer ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) : void 0
  };
}

// src/emitter.ts
var Emitter = class {
  constructor() {
    this.listeners = /* @__PURE__ */ new Map();
  }
  /** Add `listener`; returns a function that removes it again. */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }
  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
  }
  /** Call every listener of `event`; a listener that throws does not stop the others. */
  emit(event, value) {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(value);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
};

// src/rest.ts
var MAX_PAGE = 500;
var RestClient = class {
  constructor(base, tokens, fetcher) {
    this.tokens = tokens;
    this.fetcher = fetcher;
    this.base = base.replace(/\/+$/, "");
  }
  home() {
    return this.get("/v1/connect", (v) => {
      const o = v;
      return typeof o.url === "string" && typeof o.node === "string" ? { url: o.url, node: o.node } : void 0;
    });
  }
  since(cursor, limit = MAX_PAGE) {
    const query = new URLSearchParams({ since: cursor, limit: String(limit) });
    return this.get(`/v1/feed?${query}`, (v) => {
      const o = v;
      if (!Array.isArray(o.items) || typeof o.cursor !== "string" || typeof o.complete !== "boolean") return void 0;
      return { items: o.items.filter(isSinceEntry), cursor: o.cursor, complete: o.complete, more: o.more === true };
    });
  }
  posts(ids) {
    if (ids.length === 0) return Promise.resolve([]);
    return this.get(`/v1/posts?ids=${ids.map((id) => String(id)).join(",")}`, (v) => {
      const o = v;
      return Array.isArray(o.posts) ? o.posts : void 0;
    });
  }
  feed(query) {
    const params = new URLSearchParams();
    if (query.limit !== void 0) params.set("limit", String(query.limit));
    if (query.before !== void 0) params.set("before", query.before);
    const text = params.toString();
    const suffix = text === "" ? "" : `?${text}`;
    return this.get(`/v1/feed${suffix}`, (v) => {
      const o = v;
      if (!Array.isArray(o.items)) return void 0;
      const page = { items: o.items };
      if (typeof o.next === "string") page.next = o.next;
      return page;
    });
  }
  /** GET `path`; a refused token is renewed once and the call repeated. */
  async get(path, read) {
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.current();
      let response;
      try {
        response = await this.fetcher(`${this.base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      } catch (cause) {
        throw new PushgateError("network", `GET ${path}: ${String(cause)}`);
      }
      const body = await response.json().catch(() => void 0);
      if (response.ok) {
        const value = typeof body === "object" && body !== null ? read(body) : void 0;
        if (value === void 0) throw new PushgateError("bad_response", `GET ${path}: unexpected answer`, response.status);
        return value;
      }
      if (response.status === 401 && attempt === 0) {
        this.tokens.invalidate();
        continue;
      }
      const problem = body ?? {};
      throw new PushgateError(
        typeof problem.code === "string" ? problem.code : "http_error",
        `GET ${path}: ${response.status} ${typeof problem.detail === "string" ? problem.detail : ""}`.trim(),
        response.status
      );
    }
  }
};
function isSinceEntry(value) {
  if (typeof value !== "object" || value === null) return false;
  const o = value;
  return (o.type === "post" || o.type === "notify") && typeof o.id === "number" && typeof o.cursor === "string";
}

// src/cursor.ts
var CURSOR = /^(\d+):(\d+)$/;
function parseCursor(cursor) {
  const match = CURSOR.exec(cursor);
  if (!match) return void 0;
  return { feed: BigInt(match[1]), broadcast: BigInt(match[2]) };
}
function isPast(a, b) {
  return a.feed > b.feed || a.broadcast > b.broadcast;
}

// src/frames.ts
var str = (o, k) => typeof o[k] === "string" ? o[k] : void 0;
var num = (o, k) => {
  const v = o[k];
  if (typeof v === "bigint") return Number(v);
  return typeof v === "number" && Number.isFinite(v) ? v : void 0;
};
function readServerFrame(value) {
  if (typeof value !== "object" || value === null) return void 0;
  const o = value;
  switch (o["type"]) {
    case "welcome": {
      const [session, user, node, heartbeat_ms, cursor] = [str(o, "session"), str(o, "user"), str(o, "node"), num(o, "heartbeat_ms"), str(o, "cursor")];
      if (session === void 0 || user === void 0 || node === void 0 || heartbeat_ms === void 0 || cursor === void 0) return void 0;
      return { type: "welcome", session, user, node, heartbeat_ms, cursor };
    }
    case "post": {
      const [id, author, ts, cursor] = [num(o, "id"), str(o, "author"), num(o, "ts"), str(o, "cursor")];
      if (id === void 0 || author === void 0 || ts === void 0 || cursor === void 0) return void 0;
      return { type: "post", id, author, ts, cursor };
    }
    case "notify": {
      const [id, kind, cursor] = [num(o, "id"), str(o, "kind"), str(o, "cursor")];
      if (id === void 0 || kind === void 0 || cursor === void 0) return void 0;
      return { type: "notify", id, kind, data: o["data"] ?? null, cursor };
    }
    case "feed_advanced": {
      const [cursor, count] = [str(o, "cursor"), num(o, "count")];
      if (cursor === void 0 || count === void 0) return void 0;
      return { type: "feed_advanced", cursor, count };
    }
    case "resumed": {
      const replayed = num(o, "replayed");
      if (replayed === void 0 || typeof o["complete"] !== "boolean") return void 0;
      return { type: "resumed", replayed, complete: o["complete"] };
    }
    case "reconnect": {
      const [url, after_ms, reason] = [str(o, "url"), num(o, "after_ms"), str(o, "reason")];
      if (url === void 0 || after_ms === void 0) return void 0;
      return { type: "reconnect", url, after_ms, reason: reason ?? "" };
    }
    case "error": {
      const code = str(o, "code");
      if (code === void 0) return void 0;
      return { type: "error", code, message: str(o, "message") ?? "" };
    }
    case "pong":
      return { type: "pong" };
    default:
      return void 0;
  }
}

// src/heartbeat.ts
var Heartbeat = class {
  constructor(intervalMs, graceMs, ping, dead) {
    this.dead = dead;
    /** When anything last arrived. */
    this.lastSeen = Date.now();
    this.limitMs = intervalMs + graceMs;
    this.pinger = setInterval(ping, Math.max(intervalMs, 100));
    this.arm(this.limitMs);
  }
  /** Something arrived: the connection is alive. */
  seen() {
    this.lastSeen = Date.now();
  }
  stop() {
    clearInterval(this.pinger);
    if (this.watchdog !== void 0) clearTimeout(this.watchdog);
    this.watchdog = void 0;
  }
  arm(delayMs) {
    this.watchdog = setTimeout(() => {
      const silent = Date.now() - this.lastSeen;
      if (silent >= this.limitMs) {
        this.stop();
        this.dead();
      } else {
        this.arm(this.limitMs - silent);
      }
    }, delayMs);
  }
};

// src/session.ts
var MAX_PENDING_FRAMES = 1e4;
var TOKEN_CLOSE_CODES = /* @__PURE__ */ new Set([4001, 4002]);
var Session = class {
  constructor(host, open, timing) {
    this.host = host;
    this.timing = timing;
    /** Frames are applied one at a time, in arrival order, even across a catch-up's fetches. */
    this.chain = Promise.resolve();
    /** Frames queued in `chain` and not yet applied, bounded by MAX_PENDING_FRAMES. */
    this.pending = 0;
    /** Whether the handshake got through: a failure before it may mean WebSocket is blocked. */
    this.opened = false;
    /** Whether welcome (and the replay) are done, so `ready` is reported once. */
    this.live = false;
    /** Whether the transport ended: frames still queued are dropped, the resume refetches them. */
    this.over = false;
    /** Set by a `token_expired` error event (SSE says so before it ends the stream). */
    this.tokenRefused = false;
    /** Set when the client closed the session to reconnect at once. */
    this.restarting = false;
    this.ended = new Promise((resolve) => this.finish = resolve);
    this.resumeFrom = host.cursor;
    this.transport = open(this.resumeFrom, {
      open: () => this.onOpen(),
      frame: (value) => this.onFrame(value),
      end: (end) => this.onEnd(end)
    });
    this.connectTimer = setTimeout(() => {
      if (!this.live) this.abort("no welcome in time");
    }, timing.connectTimeoutMs);
  }
  /** Whether this session can take a new token in place (`refresh`); SSE cannot. */
  get duplex() {
    return this.transport.duplex;
  }
  /** Hand the server a new token (WebSocket), or reconnect with it (SSE). */
  renew(token) {
    if (this.transport.duplex) {
      this.transport.send({ type: "refresh", token });
    } else {
      this.restarting = true;
      this.transport.close();
    }
  }
  /** Close from the client side; `ended` resolves as lost. */
  abort(reason) {
    if (this.over) return;
    this.abortReason = reason;
    this.transport.close();
  }
  onOpen() {
    this.opened = true;
    if (this.resumeFrom !== void 0 && this.transport.duplex) {
      this.transport.send({ type: "resume", after: this.resumeFrom });
    }
  }
  onFrame(value) {
    if (this.over) return;
    this.heartbeat?.seen();
    const frame = readServerFrame(value);
    if (frame === void 0) return;
    if (this.pending >= MAX_PENDING_FRAMES) {
      this.abort("too many frames behind a catch-up");
      return;
    }
    this.pending += 1;
    this.chain = this.chain.then(() => this.over ? void 0 : this.apply(frame)).catch((error) => {
      this.host.error(error instanceof PushgateError ? error : new PushgateError("network", String(error)));
      this.abort("catch-up failed");
    }).finally(() => {
      this.pending -= 1;
    });
  }
  async apply(frame) {
    switch (frame.type) {
      case "welcome":
        this.host.welcome(frame.cursor);
        if (this.transport.duplex) {
          this.heartbeat = new Heartbeat(
            frame.heartbeat_ms,
            this.timing.heartbeatGraceMs,
            () => this.transport.send({ type: "ping" }),
            () => this.abort("heartbeat missed")
          );
        }
        if (this.resumeFrom === void 0) this.goLive();
        return;
      case "post":
        this.host.deliver("post", { id: frame.id, author: frame.author, ts: frame.ts, cursor: frame.cursor });
        return;
      case "notify":
        this.host.deliver("notify", { id: frame.id, kind: frame.kind, data: frame.data, cursor: frame.cursor });
        return;
      case "feed_advanced":
        await this.catchUp(frame.cursor);
        return;
      case "resumed":
        if (!frame.complete) this.host.gap({ after: this.resumeFrom ?? "", replayed: frame.replayed });
        this.goLive();
        return;
      case "reconnect":
        this.movedTo = { url: frame.url, afterMs: frame.after_ms };
        return;
      case "error":
        if (frame.code === "token_expired" || frame.code === "unauthorized" && !this.transport.duplex) {
          this.tokenRefused = true;
        }
        this.host.error(new PushgateError(frame.code, frame.message));
        return;
      case "pong":
        return;
    }
  }
  /** Emit what a fold skipped: `GET /v1/feed?since=` pages up to `target`, no further, since
   * everything after it arrives live on this connection. */
  async catchUp(target) {
    const end = parseCursor(target);
    let since = this.host.cursor;
    if (since === void 0 || end === void 0) {
      throw new PushgateError("bad_response", `cannot catch up from ${String(since)} to ${target}`);
    }
    const from = since;
    let gapReported = false;
    for (; ; ) {
      const page = await this.host.rest.since(since);
      if (this.over) return;
      if (!page.complete && !gapReported) {
        gapReported = true;
        this.host.gap({ after: from, replayed: page.items.length });
      }
      for (const item of page.items) {
        const at = parseCursor(item.cursor);
        if (at === void 0 || isPast(at, end)) {
          this.host.advance(target);
          return;
        }
        if (item.type === "post") {
          this.host.deliver("post", { id: item.id, author: item.author, ts: item.ts, cursor: item.cursor });
        } else {
          this.host.deliver("notify", { id: item.id, kind: item.kind, data: item.data, cursor: item.cursor });
        }
      }
      if (!page.more || page.items.length === 0) break;
      since = page.cursor;
    }
    this.host.advance(target);
  }
  goLive() {
    if (this.live) return;
    this.live = true;
    clearTimeout(this.connectTimer);
    this.host.ready();
  }
  onEnd(end) {
    if (this.over) return;
    this.over = true;
    clearTimeout(this.connectTimer);
    this.heartbeat?.stop();
    if (this.restarting) {
      this.finish({ kind: "restart" });
    } else if (this.movedTo !== void 0) {
      this.finish({ kind: "moved", ...this.movedTo });
    } else if (this.tokenRefused || end.code !== void 0 && TOKEN_CLOSE_CODES.has(end.code)) {
      this.finish({ kind: "token" });
    } else {
      this.finish({ kind: "lost", opened: this.opened, code: end.code, reason: this.abortReason ?? end.reason });
    }
  }
};

// src/sse_transport.ts
var EVENTS = ["welcome", "post", "notify", "feed_advanced", "resumed", "reconnect", "error"];
function sseUrl(websocketUrl) {
  const url = new URL(websocketUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : url.protocol === "ws:" ? "http:" : url.protocol;
  url.pathname = url.pathname.replace(/\/v1\/ws$/, "/v1/sse");
  return url.toString();
}
function openEventSource(Source, url, token, after, handlers) {
  const target = new URL(sseUrl(url));
  target.searchParams.set("access_token", token);
  if (after !== void 0) target.searchParams.set("after", after);
  const source = new Source(target.toString());
  let ended = false;
  const end = (reason) => {
    if (ended) return;
    ended = true;
    source.close();
    handlers.end({ code: void 0, reason });
  };
  source.addEventListener("open", () => handlers.open());
  for (const name of EVENTS) {
    source.addEventListener(name, (event) => {
      if (ended) return;
      if (typeof event.data !== "string") {
        if (name === "error") end("stream ended");
        return;
      }
      let value;
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
    },
    close() {
      end("closed by client");
    }
  };
}

// src/token.ts
var LEAD_SHARE = 0.2;
var MAX_LEAD_MS = 6e4;
var MIN_DELAY_MS = 1e3;
function tokenExpiry(token) {
  const payload = token.split(".")[1];
  if (payload === void 0) return void 0;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")));
    if (typeof claims === "object" && claims !== null && "exp" in claims) {
      const exp = claims.exp;
      if (typeof exp === "number" && Number.isFinite(exp)) return exp * 1e3;
    }
  } catch {
  }
  return void 0;
}
var TokenKeeper = class {
  constructor(getToken) {
    this.getToken = getToken;
  }
  /** The current token, asking the app for one when there is none or it is due. */
  async current() {
    if (this.token !== void 0 && (this.renewAt === void 0 || Date.now() < this.renewAt)) {
      return this.token;
    }
    return this.renew();
  }
  /** Ask the app for a new token now. */
  renew() {
    this.pending ?? (this.pending = (async () => {
      try {
        const token = await this.getToken();
        this.token = token;
        const exp = tokenExpiry(token);
        const now = Date.now();
        this.renewAt = exp === void 0 ? void 0 : Math.max(now + MIN_DELAY_MS, exp - Math.min(MAX_LEAD_MS, (exp - now) * LEAD_SHARE));
        return token;
      } finally {
        this.pending = void 0;
      }
    })());
    return this.pending;
  }
  /** The server refused the token: the next `current()` asks the app again. */
  invalidate() {
    this.token = void 0;
    this.renewAt = void 0;
  }
  /** Milliseconds until the token should be renewed, or undefined when it never expires. */
  msUntilRenewal() {
    return this.renewAt === void 0 ? void 0 : Math.max(0, this.renewAt - Date.now());
  }
};

// src/websocket_transport.ts
function openWebSocket(Socket, url, token, codec, handlers) {
  const target = new URL(url);
  target.searchParams.set("access_token", token);
  const socket = new Socket(target.toString(), [codec.subprotocol]);
  socket.binaryType = "arraybuffer";
  let ended = false;
  const end = (code, reason) => {
    if (ended) return;
    ended = true;
    handlers.end({ code, reason });
  };
  socket.addEventListener("open", () => handlers.open());
  socket.addEventListener("message", (event) => {
    if (ended) return;
    let value;
    try {
      value = codec.decode(event.data);
    } catch {
      return;
    }
    handlers.frame(value);
  });
  socket.addEventListener("close", (event) => end(event.code, event.reason));
  socket.addEventListener("error", () => end(void 0, "socket error"));
  return {
    duplex: true,
    send(frame) {
      if (ended) return;
      try {
        socket.send(codec.encode(frame));
      } catch {
      }
    },
    close() {
      try {
        socket.close(1e3);
      } catch {
      }
      end(void 0, "closed by client");
    }
  };
}

// src/client.ts
var DEFAULT_HEARTBEAT_GRACE_MS = 5e3;
var DEFAULT_CONNECT_TIMEOUT_MS = 1e4;
var WEBSOCKET_FAILURES_BEFORE_SSE = 2;
var PushgateClient = class {
  constructor(options) {
    /** The app's listeners. */
    this.events = new Emitter();
    /** Reported through `state` events on every change. */
    this.currentState = "disconnected";
    /** `connect()` calls waiting for the next live connection. */
    this.waiters = [];
    /** Set by `close()`: the run loop stops, nothing reconnects. */
    this.closed = false;
    /** Whether the current session is live (welcome and replay done). */
    this.live = false;
    /** WebSocket handshakes that failed in a row (for the `auto` fallback). */
    this.websocketFailures = 0;
    /** The pending backoff or token-renewal timer, cancelled by `close()`. */
    this.timers = /* @__PURE__ */ new Set();
    this.options = options;
    this.currentCursor = options.cursor;
    this.tokens = new TokenKeeper(options.getToken);
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.rest = new RestClient(options.api, this.tokens, fetcher);
    this.backoff = new Backoff(options.backoff);
    const transport = options.transport ?? "auto";
    this.useSse = transport === "sse" || transport === "auto" && this.webSocketClass() === void 0;
  }
  /** The last cursor delivered to the app (or the feed head after a fresh first connect):
   * persist it and pass it back as `cursor` to resume there. */
  get cursor() {
    return this.currentCursor;
  }
  get state() {
    return this.currentState;
  }
  /** The transport in use now. */
  get transport() {
    return this.useSse ? "sse" : "websocket";
  }
  /** Listen to an event; returns a function that stops listening. */
  on(event, listener) {
    return this.events.on(event, listener);
  }
  off(event, listener) {
    this.events.off(event, listener);
  }
  /** Start (or wait for) a live connection: resolves on `welcome` and, when resuming, on the
   * end of the replay. Rejects only when the client is closed first; failures in between are
   * retried and emitted as `error`. */
  connect() {
    if (this.closed) return Promise.reject(new PushgateError("closed", "the client is closed"));
    const ready = this.live ? Promise.resolve() : new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.running ?? (this.running = this.run());
    return ready;
  }
  /** Post bodies by ID (`GET /v1/posts?ids=`), the visible ones in the order asked. */
  posts(ids) {
    return this.rest.posts(ids);
  }
  /** A page of the feed back in time (`GET /v1/feed?limit=&before=`), newest first. */
  feed(query = {}) {
    return this.rest.feed(query);
  }
  /** Close the connection and stop reconnecting. */
  close() {
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
  async run() {
    let codec;
    try {
      codec = await loadCodec(this.options.codec ?? "json");
    } catch (error) {
      this.fail(error);
      return;
    }
    let next = { url: void 0, delayMs: 0 };
    while (!this.closed) {
      if (next.delayMs > 0) {
        await this.sleep(next.delayMs);
        if (this.closed) return;
      }
      this.setState("connecting");
      const end = await this.attempt(next.url, codec);
      this.live = false;
      this.session = void 0;
      if (this.closed) return;
      this.setState("disconnected");
      next = this.plan(end);
    }
  }
  /** One connection attempt, to its end. */
  async attempt(url, codec) {
    let token;
    let target;
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
    let session;
    try {
      session = new Session(this.host(), open, {
        heartbeatGraceMs: this.options.heartbeatGraceMs ?? DEFAULT_HEARTBEAT_GRACE_MS,
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
      });
    } catch (error) {
      this.emitError(error);
      return { kind: "unreachable" };
    }
    this.session = session;
    const end = await session.ended;
    if (end.kind === "lost" && !end.opened) {
      if (!this.useSse) this.websocketFailures += 1;
      this.emitError(new PushgateError("network", `cannot connect to ${target}: ${end.reason}`));
    } else {
      this.websocketFailures = 0;
    }
    return end;
  }
  /** How the next attempt goes after `end`. */
  plan(end) {
    switch (end.kind) {
      case "unreachable":
        return { url: void 0, delayMs: this.backoff.next() };
      case "moved":
        this.backoff.reset();
        return { url: end.url, delayMs: end.afterMs };
      case "restart":
        return { url: void 0, delayMs: 0 };
      case "token":
        this.tokens.invalidate();
        return { url: void 0, delayMs: this.backoff.next() };
      case "lost":
        if ((this.options.transport ?? "auto") === "auto" && !this.useSse && this.websocketFailures >= WEBSOCKET_FAILURES_BEFORE_SSE && this.eventSourceClass() !== void 0) {
          this.useSse = true;
          return { url: void 0, delayMs: 0 };
        }
        return { url: void 0, delayMs: this.backoff.next() };
    }
  }
  /** The transport opener for `url`, or why there is none. */
  opener(url, token, codec) {
    if (this.useSse) {
      const Source = this.eventSourceClass();
      if (Source === void 0) return new PushgateError("unsupported", "no EventSource: pass one in the options");
      return (after, handlers) => openEventSource(Source, url, token, after, handlers);
    }
    const Socket = this.webSocketClass();
    if (Socket === void 0) return new PushgateError("unsupported", "no WebSocket: pass one in the options");
    return (_after, handlers) => openWebSocket(Socket, url, token, codec, handlers);
  }
  webSocketClass() {
    return this.options.WebSocket ?? globalThis.WebSocket;
  }
  eventSourceClass() {
    return this.options.EventSource ?? globalThis.EventSource;
  }
  /** The session's view of this client. */
  host() {
    const client = this;
    return {
      get cursor() {
        return client.currentCursor;
      },
      rest: this.rest,
      deliver(kind, item) {
        client.currentCursor = item.cursor;
        if (kind === "post") client.events.emit("post", item);
        else client.events.emit("notify", item);
      },
      advance(cursor) {
        client.currentCursor = cursor;
      },
      welcome(cursor) {
        client.currentCursor ?? (client.currentCursor = cursor);
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
      gap(info) {
        client.events.emit("gap", info);
      },
      error(error) {
        client.events.emit("error", error);
      }
    };
  }
  /** Renew the token before its `exp`: in place over WebSocket, by reconnecting over SSE. */
  scheduleRenewal() {
    const delay = this.tokens.msUntilRenewal();
    const session = this.session;
    if (delay === void 0 || session === void 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed || this.session !== session) return;
      this.tokens.renew().then(
        (token) => {
          if (this.closed || this.session !== session) return;
          session.renew(token);
          if (session.duplex) this.scheduleRenewal();
        },
        (error) => {
          this.emitError(error);
          session.abort("token renewal failed");
        }
      );
    }, delay);
    this.timers.add(timer);
  }
  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.wake = void 0;
        resolve();
      }, ms);
      this.timers.add(timer);
      this.wake = resolve;
    });
  }
  setState(state) {
    if (this.currentState === state) return;
    this.currentState = state;
    this.events.emit("state", state);
  }
  emitError(error) {
    this.events.emit("error", error instanceof Error ? error : new PushgateError("network", String(error)));
  }
  /** A setup error no retry can fix: report it and close. */
  fail(error) {
    const failure = error instanceof Error ? error : new PushgateError("unsupported", String(error));
    this.events.emit("error", failure);
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(failure);
    this.close();
  }
};
export {
  Backoff,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_BACKOFF_MIN_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_GRACE_MS,
  PushgateClient,
  PushgateError
};
