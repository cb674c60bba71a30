//! Builds the SDK: `dist/index.js` (one ES module, bundled by esbuild) and the type
//! declarations (tsc). `node build.mjs OUT` builds into OUT instead, which the tests use to
//! check that the committed dist/ is exactly what the sources build to.

import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(root, "dist"));
const bin = (name) => join(root, "node_modules", ".bin", name);

rmSync(out, { recursive: true, force: true });
execFileSync(bin("tsc"), ["-p", join(root, "tsconfig.json"), "--outDir", out], { stdio: "inherit" });
execFileSync(
  bin("esbuild"),
  [
    join(root, "src", "index.ts"),
    "--bundle",
    "--format=esm",
    "--target=es2020",
    "--legal-comments=none",
    // Optional peer dependency, imported at run time only when codec is "msgpack".
    "--external:@msgpack/msgpack",
    `--outfile=${join(out, "index.js")}`,
    "--log-level=warning",
  ],
  { stdio: "inherit", cwd: root },
);
