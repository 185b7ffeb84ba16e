// Builds dist/ (clickstream.min.js, clickstream.mjs, clickstream.d.ts) from src/ with esbuild,
// after type-checking with tsc. `--tests` also type-checks test/ and bundles each
// test/*.test.ts into build/test/*.test.mjs for `node --test` (node cannot run TypeScript).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = new URL(".", import.meta.url).pathname;
function tsc(project) {
  try {
    execFileSync(process.execPath, [`${here}node_modules/typescript/bin/tsc`, "-p", project], { cwd: here, stdio: "inherit" });
  } catch {
    console.error(`tracker: type errors in ${project} (above)`);
    process.exit(1);
  }
}
const withTests = process.argv.includes("--tests");

// What the classic script and the module both run in: browsers from 2020 on (sendBeacon,
// fetch keepalive, optional chaining); older ones get the fallbacks in src/util.ts.
const target = ["es2020"];
const entry = `${here}src/index.ts`;

tsc("tsconfig.json");
// Overwritten in place, not removed first: a page being served meanwhile never finds it missing.
mkdirSync(`${here}dist`, { recursive: true });
await build({ entryPoints: [entry], bundle: true, format: "iife", globalName: "clickstream", minify: true,
  target, outfile: `${here}dist/clickstream.min.js`, legalComments: "none" });
await build({ entryPoints: [entry], bundle: true, format: "esm", target, outfile: `${here}dist/clickstream.mjs` });

// One self-contained declaration file: the API's types all live in src/index.ts.
const types = readFileSync(`${here}build/types/index.d.ts`, "utf8");
if (/^\s*import\b/m.test(types)) throw new Error("src/index.ts: the public declarations import another module");
writeFileSync(`${here}dist/clickstream.d.ts`, `${types.trimEnd()}\n/** The classic script's global. */\nexport as namespace clickstream;\n`);

const min = readFileSync(`${here}dist/clickstream.min.js`);
console.log(`tracker: dist/clickstream.min.js ${min.length} bytes, ${gzipSync(min, { level: 9 }).length} gzip -9`);

if (withTests) {
  tsc("test/tsconfig.json");
  rmSync(`${here}build/test`, { recursive: true, force: true });
  const tests = readdirSync(`${here}test`).filter((f) => f.endsWith(".test.ts"));
  await build({ entryPoints: tests.map((f) => `${here}test/${f}`), bundle: true, platform: "node", format: "esm",
    target: "node18", outdir: `${here}build/test`, outExtension: { ".js": ".mjs" }, sourcemap: "inline" });
}
