//! The SDK on a page of another origin, in headless Chromium (Debian's `chromium`, driven by
//! playwright-core), against a real `pushgate dev` started with that origin in
//! `--allowed-origins`: the page, which serves the SDK's bundle itself as an app would,
//! connects over WebSocket and over SSE, gets a post live and finds it in its feed over REST
//! (CORS). A page of an origin not listed can read no REST answer and open no stream.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { teardown } from "./support/fake_server.mjs";
import { Pushgate, call, devToken } from "./support/pushgate.mjs";

/** A stuck test fails after this long instead of hanging the run (the client retries forever). */
const TEST_TIMEOUT_MS = 60_000;

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The SDK's bundle, as an app serves it from its own origin. */
const SDK = readFileSync(new URL("../dist/index.js", import.meta.url));

/** A blank page and the SDK at `/sdk.js` on an origin of its own (loopback, a port of its
 * own); returns the origin. */
async function appSite(cleanup) {
  const server = createServer((request, response) => {
    if (request.url === "/sdk.js") {
      response.writeHead(200, { "content-type": "text/javascript" });
      response.end(SDK);
      return;
    }
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<!doctype html><title>an app</title>");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${server.address().port}`;
}

test("a listed origin's page uses the SDK over WebSocket and SSE; another origin's page reads nothing", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium`);
  const cleanup = teardown(t);
  const app = await appSite(cleanup);
  const foreign = await appSite(cleanup);
  const node = await Pushgate.start(["dev", "--listen=127.0.0.1:0", `--allowed-origins=${app}`, "--user-rps=10000"]);
  cleanup(() => node.stop());
  // As root (CI) Chromium's sandbox cannot start; the pages are our own.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  cleanup(() => browser.close());
  const alice = await devToken(node.base, "alice");
  const bob = await devToken(node.base, "bob");
  assert.equal((await call(node.base, "PUT", "/v1/follows/alice", bob)).status, 204);

  const page = await (await browser.newContext()).newPage();
  await page.goto(app);
  for (const transport of ["websocket", "sse"]) {
    const used = await page.evaluate(
      async ({ api, token, transport }) => {
        const { PushgateClient } = await import(`${location.origin}/sdk.js`);
        const client = new PushgateClient({ api, getToken: () => token, transport });
        window.received = [];
        client.on("post", (item) => window.received.push(item.id));
        await client.connect();
        window.client = client;
        return client.transport;
      },
      { api: node.base, token: bob, transport },
    );
    assert.equal(used, transport);
    const { status, body } = await call(node.base, "POST", "/v1/posts", alice, { content: `over ${transport}` });
    assert.equal(status, 201, JSON.stringify(body));
    await page.waitForFunction((id) => window.received.includes(id), body.id);
    const inFeed = await page.evaluate(async () => {
      const feed = await window.client.feed();
      window.client.close();
      return feed.items.map((item) => item.id);
    });
    assert.ok(inFeed.includes(body.id), `post ${body.id} in the feed page ${inFeed}`);
  }

  const stranger = await (await browser.newContext()).newPage();
  await stranger.goto(foreign);
  const outcome = await stranger.evaluate(
    async ({ api, token }) => {
      const failure = (error) => error.name;
      const rest = await fetch(`${api}/v1/feed`, { headers: { authorization: `Bearer ${token}` } }).then(() => "read", failure);
      const opened = (source, ready) =>
        new Promise((resolve) => {
          source.addEventListener(ready, () => resolve("open"));
          source.addEventListener("error", () => resolve("error"));
        }).finally(() => source.close());
      const stream = await opened(new EventSource(`${api}/v1/sse?access_token=${token}`), "welcome");
      const socket = await opened(new WebSocket(`${api.replace("http", "ws")}/v1/ws?access_token=${token}`), "message");
      return { rest, stream, socket };
    },
    { api: node.base, token: bob },
  );
  assert.deepEqual(outcome, { rest: "TypeError", stream: "error", socket: "error" });
});
