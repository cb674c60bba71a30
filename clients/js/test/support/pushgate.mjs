//! Real processes for the integration tests: `pushgate` roles on port 0 (the address is read
//! from the line each prints), `redis-server` on a free port, and a TCP proxy the test can cut
//! or stall.

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { eventually } from "./fake_server.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

/** The `pushgate` binary cargo built (`PUSHGATE_BIN` overrides). */
export function pushgateBinary() {
  const path = process.env.PUSHGATE_BIN ?? join(repo, "target", "debug", "pushgate");
  if (!existsSync(path)) {
    throw new Error(`no pushgate binary at ${path}: run cargo build -p pushgate-gateway --bin pushgate`);
  }
  return path;
}

/** A running `pushgate` process. */
export class Pushgate {
  /** Start `pushgate ARGS` and wait for the address it prints. */
  static async start(args, env = {}) {
    const child = spawn(pushgateBinary(), args, {
      env: { ...process.env, PUSHGATE_LOG: process.env.PUSHGATE_TEST_LOG ?? "warn", ...env },
      stdio: ["ignore", "pipe", process.env.PUSHGATE_TEST_LOG ? "inherit" : "ignore"],
    });
    const lines = createInterface({ input: child.stdout });
    const addr = await new Promise((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`pushgate ${args[0]} exited with ${code} before listening`)));
      lines.once("line", (line) => {
        const match = /http:\/\/(\S+)/.exec(line);
        if (match) resolve(match[1]);
        else reject(new Error(`no address in ${JSON.stringify(line)}`));
      });
    });
    child.removeAllListeners("exit");
    return new Pushgate(child, addr);
  }

  constructor(child, addr) {
    this.child = child;
    /** `host:port` it listens on. */
    this.addr = addr;
    this.exited = new Promise((resolve) => child.once("exit", resolve));
  }

  get base() {
    return `http://${this.addr}`;
  }

  /** SIGKILL: no drain, no goodbye, as a crash. */
  kill9() {
    this.child.kill("SIGKILL");
    return this.exited;
  }

  /** SIGTERM: the deploy signal, which drains. */
  drain() {
    this.child.kill("SIGTERM");
    return this.exited;
  }

  stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    return this.exited;
  }
}

/** A free loopback port (bound and released; the tiny race is acceptable in tests). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A `redis-server` on a free port (never 6379), without persistence. */
export class RedisServer {
  static async start() {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "pushgate-js-redis-"));
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: "ignore" },
    );
    const failed = new Promise((_, reject) =>
      child.once("error", (e) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${e.message}`))),
    );
    await Promise.race([failed, eventually("redis-server to answer PING", () => ping(port))]);
    const server = new RedisServer();
    server.child = child;
    server.port = port;
    return server;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  stop() {
    this.child.kill("SIGKILL");
  }
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("error", () => resolve(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(String(data).startsWith("+PONG"));
    });
  });
}

/** An HS256 user token, as an app's auth service signs it. */
export function mintToken(secret, user, ttlSecs = 3600) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: user, iat: now, exp: now + ttlSecs })}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** A TCP proxy in front of `target`: the test cuts its connections, or stalls the way to the
 * client so the server's writes block as behind a slow network. */
export class TcpProxy {
  static async start() {
    const proxy = new TcpProxy();
    await new Promise((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  constructor() {
    /** `host:port` to forward to; set before the first client connects. */
    this.target = undefined;
    this.pairs = new Set();
    this.stalled = false;
    /** Every byte the server sent, as text (pushes are unmasked JSON), for assertions. */
    this.downstream = "";
    this.server = net.createServer((client) => {
      const [host, port] = this.target.split(":");
      const upstream = net.connect(Number(port), host);
      const pair = { client, upstream };
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.on("data", (data) => {
        this.downstream += data.toString("latin1");
        if (!client.write(data)) upstream.pause();
      });
      client.on("drain", () => {
        if (!this.stalled) upstream.resume();
      });
      if (this.stalled) upstream.pause();
      const end = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("close", end);
      upstream.on("close", end);
      client.on("error", end);
      upstream.on("error", end);
    });
  }

  get addr() {
    const { port } = this.server.address();
    return `127.0.0.1:${port}`;
  }

  /** Drop every open connection at once, both ways, as a network failure. (`destroy`, not
   * `resetAndDestroy`: node 20 can hang at exit closing a reset handle.) */
  cut() {
    const n = this.pairs.size;
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    return n;
  }

  /** Stop reading from the server (its socket buffers fill, its writes block). */
  stall() {
    this.stalled = true;
    for (const { upstream } of this.pairs) upstream.pause();
  }

  unstall() {
    this.stalled = false;
    for (const { upstream } of this.pairs) upstream.resume();
  }

  close() {
    this.cut();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

/** A REST call; returns `{status, body}`. */
export async function call(base, method, path, bearer, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A user token from `pushgate dev`'s token endpoint. */
export async function devToken(base, user, ttlSecs) {
  const request = ttlSecs === undefined ? { user } : { user, ttl_secs: ttlSecs };
  const { status, body } = await call(base, "POST", "/v1/dev/token", "", request);
  if (status !== 200) throw new Error(`dev token: ${status} ${JSON.stringify(body)}`);
  return body.token;
}

/** Prometheus counter `name` summed over its series, from `/metrics`. */
export async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(name) && (line[name.length] === " " || line[name.length] === "{")) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}
