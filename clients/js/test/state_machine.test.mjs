//! The client's state machine against a scripted fake server: resume, reconnect frames,
//! feed_advanced catch-up, gaps, heartbeats, token renewal, SSE and the auto fallback.

import assert from "node:assert/strict";
import { test } from "node:test";
import { EventSource } from "eventsource";
import { WebSocket } from "ws";
import { PushgateClient } from "../dist/index.js";
import { FakeServer, eventually, fakeToken, recorder } from "./support/fake_server.mjs";

/** A stuck test fails after this long instead of hanging the run (the client retries forever). */
const TEST_TIMEOUT_MS = 20_000;

/** A client of `fake` with short timings; `options` override. */
function clientOf(fake, options = {}) {
  return new PushgateClient({
    api: fake.base,
    getToken: () => fakeToken("t", 3_600_000),
    WebSocket,
    EventSource,
    backoff: { minMs: 20, maxMs: 100 },
    ...options,
  });
}

async function freshServer(t) {
  const fake = await FakeServer.start();
  t.after(() => fake.stop());
  return fake;
}

test("first connect: welcome sets the cursor, pushes are emitted in order with theirs", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake);
  t.after(() => client.close());
  const seen = recorder(client);
  const connected = client.connect();
  const conn = await fake.connection(0);
  assert.equal(fake.connectCalls, 1, "asks /v1/connect for the home node");
  conn.welcome("4:0");
  await connected;
  assert.equal(client.cursor, "4:0");
  assert.equal(client.state, "connected");
  conn.post(1, "5:0");
  conn.send({ type: "notify", id: 9, kind: "mention", data: { by: "alice" }, cursor: "6:0" });
  await eventually("the push and the notification", () => seen.posts.length === 1 && seen.notifies.length === 1);
  assert.deepEqual(seen.posts, [{ id: 1, author: "alice", ts: 1, cursor: "5:0" }]);
  assert.deepEqual(seen.notifies, [{ id: 9, kind: "mention", data: { by: "alice" }, cursor: "6:0" }]);
  assert.equal(client.cursor, "6:0");
  assert.deepEqual(conn.received, [], "a fresh client sends no resume");
  assert.deepEqual(seen.states, ["connecting", "connected"]);
});

test("a lost socket reconnects and sends resume first, and connect() waits for resumed", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake, { cursor: "2:0" });
  t.after(() => client.close());
  const seen = recorder(client);
  let connected = false;
  const connecting = client.connect().then(() => (connected = true));
  const first = await fake.connection(0);
  const resume = await first.waitFor("resume");
  assert.deepEqual(first.received[0], { type: "resume", after: "2:0" }, "resume is the first frame");
  assert.equal(resume.after, "2:0");
  first.welcome("9:0");
  first.post(3, "3:0");
  await eventually("the replayed post", () => seen.posts.length === 1);
  assert.equal(connected, false, "not connected before the replay ended");
  first.send({ type: "resumed", replayed: 1, complete: true });
  await connecting;
  assert.equal(client.cursor, "3:0", "the welcome head does not skip the gap");

  first.socket.terminate();
  const second = await fake.connection(1);
  assert.deepEqual((await second.waitFor("resume")).after, "3:0");
  assert.equal(fake.connectCalls, 2, "after a failure the client asks /v1/connect again");
  second.welcome("9:0");
  second.post(4, "4:0");
  second.send({ type: "resumed", replayed: 1, complete: true });
  await eventually("the second replay", () => seen.posts.length === 2);
  assert.deepEqual(seen.posts.map((p) => p.id), [3, 4]);
  assert.ok(seen.states.includes("disconnected"));
});

test("a reconnect frame is obeyed: wait after_ms, go to the named URL, resume", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const other = await freshServer(t);
  const client = clientOf(fake);
  t.after(() => client.close());
  const seen = recorder(client);
  const connected = client.connect();
  const first = await fake.connection(0);
  first.welcome("1:0");
  await connected;
  first.post(2, "2:0");
  first.send({ type: "reconnect", url: other.wsUrl, after_ms: 30, reason: "draining" });
  first.close(1012);
  const moved = await other.connection(0);
  assert.equal((await moved.waitFor("resume")).after, "2:0");
  assert.equal(fake.connectCalls, 1, "no /v1/connect: the frame named the node");
  assert.equal(other.connectCalls, 0);
  moved.welcome("2:0");
  moved.send({ type: "resumed", replayed: 0, complete: true });
  moved.post(3, "3:0");
  await eventually("the post on the new node", () => seen.posts.length === 2);
  assert.deepEqual(seen.posts.map((p) => p.id), [2, 3]);
});

test("feed_advanced becomes since pages up to its cursor; later live pushes are not repeated", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  // The feed holds 1..6; the client saw 1 and 2 live, 3..5 were folded, 6 comes live.
  fake.feed = [1, 2, 3, 4, 5, 6].map((id) => ({ type: "post", id, author: "alice", ts: id, cursor: `${id}:0` }));
  const client = clientOf(fake);
  t.after(() => client.close());
  const seen = recorder(client);
  const connected = client.connect();
  const conn = await fake.connection(0);
  conn.welcome("0:0");
  await connected;
  conn.post(1, "1:0");
  conn.post(2, "2:0");
  conn.send({ type: "feed_advanced", cursor: "5:0", count: 3 });
  conn.post(6, "6:0");
  await eventually("every post", () => seen.posts.length >= 6);
  assert.deepEqual(seen.posts.map((p) => p.id), [1, 2, 3, 4, 5, 6], "each once, in order");
  assert.equal(client.cursor, "6:0");
  assert.deepEqual(seen.gaps, []);
});

test("resumed {complete:false} emits gap with the cursor resumed from", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake, { cursor: "1:0" });
  t.after(() => client.close());
  const seen = recorder(client);
  const connected = client.connect();
  const conn = await fake.connection(0);
  await conn.waitFor("resume");
  conn.welcome("2000:0");
  conn.post(1500, "1500:0");
  conn.send({ type: "resumed", replayed: 1, complete: false });
  await connected;
  assert.deepEqual(seen.gaps, [{ after: "1:0", replayed: 1 }]);
});

test("a silent socket is given up after heartbeat_ms plus the grace, and resumed", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake, { heartbeatGraceMs: 200 });
  t.after(() => client.close());
  const connected = client.connect();
  const first = await fake.connection(0);
  first.welcome("1:0", 100);
  await connected;
  await first.waitFor("ping");
  // The network dies without a FIN: nothing arrives any more, the socket stays "open".
  first.answerPings = false;
  first.socket.pause();
  const second = await fake.connection(1);
  assert.equal((await second.waitFor("resume")).after, "1:0");
});

test("an attempt that gets no welcome in time is abandoned and retried", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake, { connectTimeoutMs: 200 });
  t.after(() => client.close());
  const connected = client.connect();
  const mute = await fake.connection(0);
  await mute.whenClosed();
  const second = await fake.connection(1);
  second.welcome("1:0");
  await connected;
  assert.equal(client.state, "connected");
});

test("the token is renewed before exp with a refresh frame on the open socket", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  let minted = 0;
  const client = clientOf(fake, { getToken: () => fakeToken(`t${++minted}`, 3_000) });
  t.after(() => client.close());
  const connected = client.connect();
  const conn = await fake.connection(0);
  conn.welcome("1:0");
  await connected;
  const refresh = await conn.waitFor("refresh");
  assert.equal(minted, 2);
  assert.equal(refresh.token.split(".").length, 3);
  assert.notEqual(refresh.token, fake.tokens[0]);
  assert.equal(fake.connections.length, 1, "renewed in place, no reconnect");
});

test("close 4002 token_expired gets a new token before reconnecting", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  let minted = 0;
  const client = clientOf(fake, { getToken: () => fakeToken(`t${++minted}`, 3_600_000) });
  t.after(() => client.close());
  const connected = client.connect();
  const first = await fake.connection(0);
  first.welcome("1:0");
  await connected;
  first.close(4002);
  const second = await fake.connection(1);
  assert.equal(minted, 2);
  assert.equal(new URL(second.url, "http://x").searchParams.get("access_token").length > 0, true);
  assert.notEqual(new URL(second.url, "http://x").searchParams.get("access_token"), new URL(first.url, "http://x").searchParams.get("access_token"));
});

test("SSE: ?after= resumes, reconnect events move it, token_expired reconnects with a new token", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const other = await freshServer(t);
  let minted = 0;
  const client = clientOf(fake, { transport: "sse", cursor: "1:0", getToken: () => fakeToken(`t${++minted}`, 3_600_000) });
  t.after(() => client.close());
  const seen = recorder(client);
  const connected = client.connect();
  const first = await fake.connection(0);
  assert.equal(first.kind, "sse");
  assert.equal(first.url.searchParams.get("after"), "1:0");
  first.welcome("3:0");
  first.post(2, "2:0");
  first.send({ type: "resumed", replayed: 1, complete: true });
  await connected;
  assert.equal(client.transport, "sse");
  first.post(3, "3:0");
  first.send({ type: "reconnect", url: other.wsUrl, after_ms: 10, reason: "draining" });
  first.close();
  const moved = await other.connection(0);
  assert.equal(moved.kind, "sse");
  assert.equal(moved.url.searchParams.get("after"), "3:0");
  moved.welcome("3:0");
  moved.send({ type: "resumed", replayed: 0, complete: true });
  moved.post(4, "4:0");
  moved.send({ type: "error", code: "token_expired", message: "token expired" });
  moved.close();
  const renewed = await fake.connection(1);
  assert.equal(renewed.url.searchParams.get("after"), "4:0");
  assert.equal(minted, 2, "a new token for the new stream");
  await eventually("the posts", () => seen.posts.length === 3);
  assert.deepEqual(seen.posts.map((p) => p.id), [2, 3, 4]);
});

test("auto: WebSocket handshakes that keep failing fall back to SSE", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  fake.refuseUpgrades = true;
  const client = clientOf(fake, { transport: "auto" });
  t.after(() => client.close());
  const connected = client.connect();
  const stream = await fake.connection(0);
  assert.equal(stream.kind, "sse");
  stream.welcome("1:0");
  await connected;
  assert.equal(client.transport, "sse");
});

test("auto: a REST outage is retried with backoff and does not switch to SSE", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  fake.connectFailures = 3;
  const client = clientOf(fake, { transport: "auto" });
  t.after(() => client.close());
  const seen = recorder(client);
  const connected = client.connect();
  const conn = await fake.connection(0);
  assert.equal(conn.kind, "ws");
  assert.equal(fake.connectCalls, 4);
  conn.welcome("1:0");
  await connected;
  assert.equal(client.transport, "websocket");
  assert.deepEqual(seen.errors.map((e) => [e.code, e.status]), [["unavailable", 503], ["unavailable", 503], ["unavailable", 503]]);
});

test("close() stops everything and rejects a pending connect", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake);
  const seen = recorder(client);
  const connecting = client.connect();
  const conn = await fake.connection(0);
  client.close();
  await assert.rejects(connecting, { code: "closed" });
  await conn.whenClosed();
  assert.equal(client.state, "closed");
  assert.equal(seen.states.at(-1), "closed");
  await assert.rejects(client.connect(), { code: "closed" });
});

test("REST helpers: posts() and feed() carry the token", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const fake = await freshServer(t);
  const client = clientOf(fake);
  t.after(() => client.close());
  const posts = await client.posts([1, 2]);
  assert.deepEqual(posts.map((p) => p.content), ["post 1", "post 2"]);
  assert.ok(fake.tokens.every((token) => token && token.split(".").length === 3));
});
