//! The demo page of `pushgate dev` in headless Chromium (Debian's `chromium`, driven by
//! playwright-core): two pages as two users; one posts, the other shows it within a second;
//! the second goes offline, misses posts, comes back and shows each exactly once. Screenshots
//! go to test-output/ (gitignored) for a person to look at.

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { teardown } from "./support/fake_server.mjs";
import { Pushgate } from "./support/pushgate.mjs";

/** A stuck test fails after this long instead of hanging the run (the client retries forever). */
const TEST_TIMEOUT_MS = 60_000;

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const shots = join(dirname(fileURLToPath(import.meta.url)), "..", "test-output");

/** Open the demo and sign in as `user`; resolves when the page shows "connected". */
async function signIn(browser, base, user) {
  const page = await (await browser.newContext({ viewport: { width: 800, height: 1000 } })).newPage();
  await page.goto(base);
  await page.fill("#user", user);
  await page.click("#signin");
  await page.waitForFunction(() => document.getElementById("state").textContent === "connected");
  return page;
}

async function post(page, content) {
  const before = await page.locator("#log").textContent();
  await page.fill("#content", content);
  await page.click("#post");
  await page.waitForFunction((old) => document.getElementById("log").textContent !== old, before);
  const log = await page.locator("#log").textContent();
  const id = /posted #(\d+)/.exec(log)?.[1];
  assert.ok(id, `the post went through: ${log}`);
  return id;
}

/** The post IDs the page lists, newest first, once every body has been fetched. */
async function shownIds(page, count) {
  await page.waitForFunction(
    (n) => {
      const items = document.querySelectorAll("#feed li[data-id]");
      return items.length >= n && [...items].every((li) => li.querySelector(".body").textContent !== "…");
    },
    count,
  );
  return page.$$eval("#feed li[data-id]", (items) => items.map((li) => li.dataset.id));
}

test("two users in Chromium: live push within a second, then offline and back, each post once", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium`);
  mkdirSync(shots, { recursive: true });
  const cleanup = teardown(t);
  const node = await Pushgate.start(["dev", "--listen=127.0.0.1:0", "--user-rps=10000"]);
  cleanup(() => node.stop());
  // As root (CI) Chromium's sandbox cannot start; the page is our own.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  cleanup(() => browser.close());

  const alice = await signIn(browser, node.base, "alice");
  const bob = await signIn(browser, node.base, "bob");
  await bob.fill("#author", "alice");
  await bob.click("#follow");
  await bob.waitForFunction(() => document.getElementById("log").textContent.includes("following alice"));

  const first = await post(alice, "hello from alice");
  // The bound: the follower's page shows the post within a second.
  await bob.waitForSelector(`#feed li[data-id="${first}"]`, { timeout: 1_000 });
  assert.deepEqual(await shownIds(bob, 1), [first]);
  await bob.screenshot({ path: join(shots, "1-bob-live.png"), fullPage: true });

  await bob.click("#toggle");
  await bob.waitForFunction(() => document.getElementById("state").textContent === "closed");
  const missed = [];
  for (let i = 1; i <= 3; i++) missed.push(await post(alice, `while bob is away ${i}`));
  await bob.screenshot({ path: join(shots, "2-bob-offline.png"), fullPage: true });
  await alice.screenshot({ path: join(shots, "2-alice-posting.png"), fullPage: true });
  assert.deepEqual(await shownIds(bob, 1), [first], "nothing arrives while offline");

  await bob.click("#toggle");
  await bob.waitForFunction(() => document.getElementById("state").textContent === "connected");
  const ids = await shownIds(bob, 4);
  assert.deepEqual(ids, [...missed].reverse().concat(first), "each post once, newest first");
  const after = await post(alice, "and live again");
  await bob.waitForSelector(`#feed li[data-id="${after}"]`);
  assert.deepEqual(await shownIds(bob, 5), [after, ...[...missed].reverse(), first]);
  assert.ok(!(await bob.locator("#log").textContent()).includes("DUPLICATE"));
  assert.equal(await bob.locator("#feed li .tag.replayed").count(), 3, "the three missed ones came from the resume");
  await bob.screenshot({ path: join(shots, "3-bob-resumed.png"), fullPage: true });
});
