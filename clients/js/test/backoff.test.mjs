//! Reconnect delays: full jitter inside documented, doubling bounds.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, DEFAULT_BACKOFF_MAX_MS, DEFAULT_BACKOFF_MIN_MS } from "../dist/index.js";

test("delays double from the minimum to the cap, each drawn uniformly below it", () => {
  assert.equal(DEFAULT_BACKOFF_MIN_MS, 500);
  assert.equal(DEFAULT_BACKOFF_MAX_MS, 30_000);
  const top = new Backoff({}, () => 0.999999);
  const ceilings = Array.from({ length: 9 }, () => top.next() + 1);
  assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  const bottom = new Backoff({}, () => 0);
  assert.equal(bottom.next(), 0, "full jitter reaches zero");
  top.reset();
  assert.equal(top.next() + 1, 500, "reset starts over");
  const custom = new Backoff({ minMs: 10, maxMs: 25 }, () => 0.999999);
  assert.deepEqual([custom.next(), custom.next(), custom.next()].map((d) => d + 1), [10, 20, 25]);
});
