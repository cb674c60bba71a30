//! The committed dist/ is exactly what `npm run build` makes from src/: the binary embeds
//! dist/index.js (cargo builds without Node), so it must never drift from the sources.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

test("npm run build reproduces the committed dist/ byte for byte", (t) => {
  const out = mkdtempSync(join(tmpdir(), "pushgate-dist-"));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  execFileSync(process.execPath, [join(root, "build.mjs"), out], { stdio: "inherit" });
  const committed = join(root, "dist");
  assert.deepEqual(readdirSync(out).sort(), readdirSync(committed).sort(), "the same files");
  for (const name of readdirSync(out)) {
    assert.ok(
      readFileSync(join(out, name)).equals(readFileSync(join(committed, name))),
      `dist/${name} is stale: run npm run build in clients/js and commit dist/`,
    );
  }
});
