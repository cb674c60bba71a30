//! The SDK against a small deployment on a real Redis (api, worker, two gateways), over
//! WebSocket and over SSE: a gateway drained with SIGTERM and one killed with kill -9. Each ends with every post delivered to
//! the app exactly once, in order.

import assert from "node:assert/strict";
import { test } from "node:test";
import { EventSource } from "eventsource";
import { WebSocket } from "ws";
import { PushgateClient } from "../dist/index.js";
import { eventually, everyPostOnceAfterAReconnect, recorder, teardown } from "./support/fake_server.mjs";
import { Pushgate, RedisServer, call, mintToken } from "./support/pushgate.mjs";

/** A stuck test fails after this long instead of hanging the run (the client retries forever). */
const TEST_TIMEOUT_MS = 120_000;

const SECRET = "js-cluster-test-secret-0123456789";
const API_KEY = "js-cluster-test-api-key-0123456789";
const ENV = { PUSHGATE_JWT_SECRET: SECRET, PUSHGATE_API_KEY: API_KEY };

/** api + worker + `gateways` gateways on `redis`, under a prefix of their own. */
async function deployment(cleanup, redis, gateways) {
  const common = [
    "--listen=127.0.0.1:0",
    `--redis=${redis.url}`,
    `--redis-prefix=js${Math.floor(Math.random() * 1e9)}`,
    // Short membership beats: a dead node leaves the ring within a second.
    "--membership-interval-ms=200",
  ];
  const start = async (args) => {
    const process = await Pushgate.start([...args, ...common], ENV);
    cleanup(() => process.stop());
    return process;
  };
  const api = await start(["api", "--user-rps=10000"]);
  await start(["worker"]);
  const nodes = [];
  for (let i = 0; i < gateways; i++) {
    nodes.push(await start(["gateway", `--node-id=gw${i}`, "--resume-window-ms=100", "--drain-window-ms=300", "--handshakes-per-sec=10000"]));
  }
  await eventually("every gateway in the ring", async () => {
    const ready = await call(api.base, "GET", "/readyz", "");
    return ready.status === 200 && ready.body.nodes === gateways;
  }, 40_000);
  return { api, nodes };
}

/** The gateway `user`'s `/v1/connect` points at. */
async function homeOf(api, nodes, user) {
  const { body } = await call(api.base, "GET", "/v1/connect", mintToken(SECRET, user));
  return nodes.find((n) => body.url === `ws://${n.addr}/v1/ws`);
}

/** Post `count` posts as alice, calling `midway` after half of them; returns their IDs. */
async function postMany(api, count, midway) {
  const ids = [];
  for (let i = 0; i < count; i++) {
    const { status, body } = await call(api.base, "POST", "/v1/posts", API_KEY, { content: `post ${i}`, author: "alice" });
    assert.equal(status, 201, JSON.stringify(body));
    ids.push(body.id);
    if (i === Math.floor(count / 2)) await midway();
  }
  return ids;
}

async function connectedBob(cleanup, api, transport) {
  assert.equal((await call(api.base, "PUT", "/v1/follows/alice", mintToken(SECRET, "bob"))).status, 204);
  const client = new PushgateClient({
    api: api.base,
    getToken: () => mintToken(SECRET, "bob"),
    WebSocket,
    EventSource,
    transport,
    backoff: { minMs: 50, maxMs: 500 },
  });
  cleanup(() => client.close());
  const seen = recorder(client);
  await client.connect();
  return { client, seen };
}

for (const transport of ["websocket", "sse"]) {
  test(`${transport}: a drained gateway: the client follows reconnect to the named node and resumes, each post once, in order`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const cleanup = teardown(t);
    const redis = await RedisServer.start();
    cleanup(() => redis.stop());
    const { api, nodes } = await deployment(cleanup, redis, 2);
    const { seen } = await connectedBob(cleanup, api, transport);
    const home = await homeOf(api, nodes, "bob");
    assert.ok(home, "bob's home is one of the gateways");
    const posted = await postMany(api, 30, async () => {
      await eventually("some posts live", () => seen.posts.length > 0, 20_000);
      await home.drain();
    });
    await everyPostOnceAfterAReconnect(seen, posted);
  });

  test(`${transport}: a gateway killed with kill -9: the client finds the new home and resumes, each post once, in order`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const cleanup = teardown(t);
    const redis = await RedisServer.start();
    cleanup(() => redis.stop());
    const { api, nodes } = await deployment(cleanup, redis, 2);
    const { seen } = await connectedBob(cleanup, api, transport);
    const home = await homeOf(api, nodes, "bob");
    assert.ok(home, "bob's home is one of the gateways");
    const posted = await postMany(api, 30, async () => {
      await eventually("some posts live", () => seen.posts.length > 0, 20_000);
      await home.kill9();
    });
    await everyPostOnceAfterAReconnect(seen, posted);
  });
}
