//! The SDK against a real `pushgate dev`, over WebSocket and over SSE: a socket cut
//! mid-stream (a TCP proxy the test controls) and a slow reader whose pushes the server folds
//! into `feed_advanced`. Each ends with every post delivered to the app exactly once, in order.

import assert from "node:assert/strict";
import { test } from "node:test";
import { EventSource } from "eventsource";
import { WebSocket } from "ws";
import { PushgateClient } from "../dist/index.js";
import { eventually, everyPostOnceAfterAReconnect, recorder, teardown } from "./support/fake_server.mjs";
import { Pushgate, TcpProxy, call, devToken, metric } from "./support/pushgate.mjs";

/** A stuck test fails after this long instead of hanging the run (the client retries forever). */
const TEST_TIMEOUT_MS = 60_000;

/** `pushgate dev` whose /v1/connect points at `proxy`, so the client's socket runs through it. */
async function devBehind(cleanup, proxy, extra = []) {
  cleanup(() => proxy.close());
  const node = await Pushgate.start([
    "dev",
    "--listen=127.0.0.1:0",
    `--public-url=ws://${proxy.addr}/v1/ws`,
    "--handshakes-per-sec=10000",
    "--user-rps=10000",
    ...extra,
  ]);
  proxy.target = node.addr;
  cleanup(() => node.stop());
  return node;
}

function sdk(node, token, options = {}) {
  return new PushgateClient({
    api: node.base,
    getToken: () => token,
    WebSocket,
    EventSource,
    backoff: { minMs: 20, maxMs: 200 },
    ...options,
  });
}

async function post(node, token, content) {
  const { status, body } = await call(node.base, "POST", "/v1/posts", token, { content });
  assert.equal(status, 201, JSON.stringify(body));
  return body.id;
}

for (const transport of ["websocket", "sse"]) {
  test(`${transport}: a socket cut mid-stream: the client reconnects, resumes, and every post arrives once, in order`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const cleanup = teardown(t);
    const proxy = await TcpProxy.start();
    const node = await devBehind(cleanup, proxy);
    const alice = await devToken(node.base, "alice");
    const bob = await devToken(node.base, "bob");
    assert.equal((await call(node.base, "PUT", "/v1/follows/alice", bob)).status, 204);
    const client = sdk(node, bob, { transport });
    cleanup(() => client.close());
    const seen = recorder(client);
    await client.connect();
    const posted = [];
    for (let i = 0; i < 30; i++) {
      posted.push(await post(node, alice, `post ${i}`));
      if (i === 9) {
        await eventually("the first posts live", () => seen.posts.length >= 5);
        assert.equal(proxy.cut(), 1, "the client's one socket is cut");
      }
      if (i === 19) assert.ok(proxy.cut() <= 1);
    }
    await everyPostOnceAfterAReconnect(seen, posted);
    assert.equal(client.cursor, seen.posts.at(-1).cursor);
  });

  test(`${transport}: a slow reader gets folded: feed_advanced is paged over REST, each post once, in order`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const cleanup = teardown(t);
    const proxy = await TcpProxy.start();
    const node = await devBehind(cleanup, proxy, ["--mailbox-capacity=8", "--write-timeout-ms=60000"]);
    const alice = await devToken(node.base, "alice");
    const bob = await devToken(node.base, "bob");
    assert.equal((await call(node.base, "PUT", "/v1/follows/alice", bob)).status, 204);
    const client = sdk(node, bob, { transport });
    cleanup(() => client.close());
    const seen = recorder(client);
    await client.connect();

    // The network to the client stalls: the server's socket buffers fill, then its mailbox.
    proxy.stall();
    const blob = "x".repeat(15_000);
    const posted = [];
    for (let round = 0; round < 2000 && (await metric(node.base, "pushgate_pushes_folded_total")) === 0; round++) {
      posted.push(await post(node, alice, `post ${round}`));
      // Large notifications fill the kernel buffers quickly (a push of a post is a few bytes).
      for (let i = 0; i < 10; i++) {
        const notified = await call(node.base, "POST", "/v1/notify", "pushgate-dev-key", { users: ["bob"], kind: "bulk", data: { blob } });
        assert.equal(notified.status, 202);
      }
    }
    assert.ok((await metric(node.base, "pushgate_pushes_folded_total")) > 0, "the server folded pushes");
    // Folded from here on: these posts reach the client only through the catch-up pages.
    for (let i = 0; i < 20; i++) {
      posted.push(await post(node, alice, `after the fold ${i}`));
      await call(node.base, "POST", "/v1/notify", "pushgate-dev-key", { users: ["bob"], kind: "bulk", data: { blob } });
    }
    proxy.unstall();

    await eventually("every post", () => seen.posts.length >= posted.length, 60_000);
    assert.ok(proxy.downstream.includes('"type":"feed_advanced"'), "the client was sent feed_advanced");
    assert.deepEqual(seen.posts.map((p) => p.id), posted, "each post once, in order");
    const notifies = seen.notifies.map((n) => n.id);
    assert.equal(new Set(notifies).size, notifies.length, "no notification twice");
    assert.deepEqual([...notifies].sort((a, b) => a - b), notifies, "notifications in order");
    assert.deepEqual(seen.gaps, []);
  });

  test(`${transport}: a token that expires is renewed before exp, and no post is lost or repeated`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const cleanup = teardown(t);
    const proxy = await TcpProxy.start();
    const node = await devBehind(cleanup, proxy);
    const alice = await devToken(node.base, "alice");
    let minted = 0;
    // Five-second tokens: renewed a second before exp (a fifth of their life).
    const client = sdk(node, "", { transport, getToken: () => (minted++, devToken(node.base, "bob", 5)) });
    cleanup(() => client.close());
    const seen = recorder(client);
    assert.equal((await call(node.base, "PUT", "/v1/follows/alice", await devToken(node.base, "bob"))).status, 204);
    await client.connect();
    const posted = [];
    // Past the first token's exp, with posts all along.
    const until = Date.now() + 5_500;
    while (Date.now() < until || minted < 2) {
      posted.push(await post(node, alice, `post ${posted.length}`));
      await eventually("the post", () => seen.posts.length === posted.length);
    }
    assert.deepEqual(seen.posts.map((p) => p.id), posted, "each post once, in order");
    assert.deepEqual(seen.errors.filter((e) => e.code === "unauthorized"), []);
    if (transport === "websocket") {
      assert.equal(seen.states.filter((s) => s === "connected").length, 1, `renewed in place: ${seen.states}`);
    }
  });
}

test("msgpack: the codec option speaks pushgate.v1.msgpack, and pushes arrive as with JSON", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cleanup = teardown(t);
  const proxy = await TcpProxy.start();
  const node = await devBehind(cleanup, proxy);
  const alice = await devToken(node.base, "alice");
  const bob = await devToken(node.base, "bob");
  assert.equal((await call(node.base, "PUT", "/v1/follows/alice", bob)).status, 204);
  const client = sdk(node, bob, { transport: "websocket", codec: "msgpack" });
  cleanup(() => client.close());
  const seen = recorder(client);
  await client.connect();
  const posted = [await post(node, alice, "one"), await post(node, alice, "two")];
  await eventually("both posts", () => seen.posts.length === 2);
  assert.deepEqual(seen.posts.map((p) => p.id), posted);
  assert.match(seen.posts[1].cursor, /^\d+:\d+$/);
  assert.ok(!proxy.downstream.includes('"type":"post"'), "binary frames, not JSON text");
  assert.ok(proxy.downstream.includes("pushgate.v1.msgpack"), "the server chose msgpack");
});
