//! A scripted pushgate for the state-machine tests: real HTTP and WebSocket on a loopback
//! port (node:http and `ws`), with the frames and REST answers each test scripts.

import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import { WebSocketServer } from "ws";

/** One accepted WebSocket or SSE stream, as the test sees it. */
export class FakeConnection {
  constructor(kind, url) {
    /** "ws" or "sse". */
    this.kind = kind;
    /** The request URL (query: access_token, after). */
    this.url = url;
    /** Client frames received, parsed. */
    this.received = [];
    this.closed = false;
    this.waiters = [];
    this.closeWaiters = [];
  }

  /** Resolves with the first received frame of `type` (already received or not). */
  waitFor(type) {
    const found = this.received.find((f) => f.type === type);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }

  /** Resolves when the connection is closed (by either side). */
  whenClosed() {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  onFrame(frame) {
    this.received.push(frame);
    const ready = this.waiters.filter((w) => w.type === frame.type);
    this.waiters = this.waiters.filter((w) => w.type !== frame.type);
    for (const w of ready) w.resolve(frame);
  }

  onClose() {
    this.closed = true;
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }

  welcome(cursor = "0:0", heartbeatMs = 25_000) {
    this.send({ type: "welcome", session: "s", user: "bob", node: "fake", heartbeat_ms: heartbeatMs, cursor });
  }

  post(id, cursor) {
    this.send({ type: "post", id, author: "alice", ts: id, cursor });
  }
}

class FakeSocket extends FakeConnection {
  constructor(socket, url) {
    super("ws", url);
    this.socket = socket;
    /** Answer `ping` with `pong` (a test turns it off to play a dead network). */
    this.answerPings = true;
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === "ping" && this.answerPings) this.send({ type: "pong" });
      this.onFrame(frame);
    });
    socket.on("close", () => this.onClose());
  }

  send(frame) {
    if (!this.closed) this.socket.send(JSON.stringify(frame));
  }

  close(code = 1000) {
    this.socket.close(code);
  }
}

class FakeStream extends FakeConnection {
  constructor(response, url) {
    super("sse", url);
    this.response = response;
    response.on("close", () => this.onClose());
  }

  send(frame) {
    if (this.closed) return;
    const id = typeof frame.cursor === "string" && frame.type !== "welcome" ? `id: ${frame.cursor}\n` : "";
    this.response.write(`${id}event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`);
  }

  close() {
    this.response.end();
  }
}

export class FakeServer {
  /** Start on a free loopback port. */
  static async start() {
    const server = new FakeServer();
    server.http.listen(0, "127.0.0.1");
    await once(server.http, "listening");
    return server;
  }

  constructor() {
    /** Connections in arrival order. */
    this.connections = [];
    this.connectionWaiters = [];
    /** Feed entries `GET /v1/feed?since=` pages through: `{type, id, author, ts, cursor}`. */
    this.feed = [];
    /** What `complete` `GET /v1/feed?since=` reports. */
    this.feedComplete = true;
    /** `GET /v1/connect` calls, and the tokens seen on REST and upgrades. */
    this.connectCalls = 0;
    this.tokens = [];
    /** Refuse WebSocket upgrades (to play a network that blocks them). */
    this.refuseUpgrades = false;
    /** `GET /v1/connect` answers 503 this many more times (to play a REST outage). */
    this.connectFailures = 0;
    /** Where `/v1/connect` points (default: this server). */
    this.homeUrl = undefined;
    this.wss = new WebSocketServer({ noServer: true });
    this.http = http.createServer((req, res) => this.serve(req, res));
    this.http.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url, "http://x");
      this.tokens.push(url.searchParams.get("access_token"));
      if (this.refuseUpgrades || url.pathname !== "/v1/ws") {
        socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(new FakeSocket(ws, url)));
    });
  }

  get base() {
    const { port } = this.http.address();
    return `http://127.0.0.1:${port}`;
  }

  get wsUrl() {
    return this.base.replace("http:", "ws:") + "/v1/ws";
  }

  accept(connection) {
    this.connections.push(connection);
    const waiters = this.connectionWaiters.filter((w) => w.index < this.connections.length);
    this.connectionWaiters = this.connectionWaiters.filter((w) => w.index >= this.connections.length);
    for (const w of waiters) w.resolve(this.connections[w.index]);
  }

  /** Resolves with the `index`-th connection (0-based) once it arrived. */
  connection(index) {
    if (index < this.connections.length) return Promise.resolve(this.connections[index]);
    return new Promise((resolve) => this.connectionWaiters.push({ index, resolve }));
  }

  serve(req, res) {
    const url = new URL(req.url, "http://x");
    const json = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    this.tokens.push((req.headers.authorization ?? "").replace(/^Bearer /, "") || url.searchParams.get("access_token"));
    if (url.pathname === "/v1/connect") {
      this.connectCalls += 1;
      if (this.connectFailures > 0) {
        this.connectFailures -= 1;
        return json(503, { code: "unavailable", detail: "backplane down" });
      }
      return json(200, { url: this.homeUrl ?? this.wsUrl, node: "fake" });
    }
    if (url.pathname === "/v1/feed" && url.searchParams.has("since")) {
      const since = url.searchParams.get("since");
      const limit = Number(url.searchParams.get("limit") ?? 50);
      const start = this.feed.findIndex((e) => e.cursor === since) + 1;
      const items = this.feed.slice(start, start + limit);
      const cursor = items.length ? items[items.length - 1].cursor : since;
      return json(200, { items, cursor, complete: this.feedComplete, more: start + limit < this.feed.length });
    }
    if (url.pathname === "/v1/posts") {
      const ids = url.searchParams.get("ids").split(",").map(Number);
      return json(200, { posts: ids.map((id) => ({ id, author: "alice", content: `post ${id}`, visibility: "public", ts: id })) });
    }
    if (url.pathname === "/v1/sse") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(": hello\n\n");
      this.accept(new FakeStream(res, url));
      return;
    }
    json(404, { code: "not_found" });
  }

  async stop() {
    for (const c of this.connections) {
      if (c.kind === "ws") c.socket.terminate();
      else c.response.destroy();
    }
    this.http.closeAllConnections();
    await new Promise((resolve) => this.http.close(resolve));
  }
}

/** A JWT-shaped token (unsigned: the fake server reads only its shape) expiring in `ttlMs`. */
export function fakeToken(name, ttlMs) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${b64({ alg: "none" })}.${b64({ sub: "bob", name, exp: Math.floor((Date.now() + ttlMs) / 1000) })}.x`;
}

/** Collects what a client emits, in order. */
export function recorder(client) {
  const seen = { posts: [], notifies: [], states: [], gaps: [], errors: [] };
  client.on("post", (p) => seen.posts.push(p));
  client.on("notify", (n) => seen.notifies.push(n));
  client.on("state", (s) => seen.states.push(s));
  client.on("gap", (g) => seen.gaps.push(g));
  client.on("error", (e) => seen.errors.push(e));
  return seen;
}

/** Poll `check` until it holds (failing after 10 s): waits on observable state, never a fixed sleep. */
export async function eventually(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Wait for every post and for the client's second connect, then check that each post came
 * once and in order. The last post may arrive before the reconnect completes (a resume
 * replays while the client is still connecting, and a drained node delivers until it sends
 * the client away), so the reconnect is waited for, and the posts are checked after it: a
 * resume that repeated one would show. */
export async function everyPostOnceAfterAReconnect(seen, posted) {
  await eventually("every post", () => seen.posts.length >= posted.length, 40_000);
  const connects = () => seen.states.filter((s) => s === "connected").length;
  await eventually(`a second connect (states: ${seen.states})`, () => connects() >= 2, 20_000);
  assert.deepEqual(seen.posts.map((p) => p.id), posted, "each post once, in order");
}

/** Teardown in reverse order of setup (clients before the servers they talk to), as one
 * `t.after` hook: node's test runner runs several hooks first-registered first. */
export function teardown(t) {
  const steps = [];
  t.after(async () => {
    for (const step of steps.reverse()) await step();
  });
  return (step) => steps.push(step);
}
