// The first-load JavaScript of the built console, gzipped: what index.html loads (the entry and
// its static imports) plus, for each screen, the lazy chunk it needs first. Fails over the budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BUDGET = 150 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dist, ".vite/manifest.json"), "utf8"));
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

// Static imports; with `screens`, also the screens a screen lazy-loads for its own first view
// (the Licences tabs), never the on-demand chunks (the OIDC client, the .xlsx reader).
function closure(key, seen = new Set(), screens = false) {
  const chunk = manifest[key];
  if (!chunk || seen.has(chunk.file)) return seen;
  seen.add(chunk.file);
  for (const i of chunk.imports ?? []) closure(i, seen, screens);
  if (screens) for (const d of chunk.dynamicImports ?? []) if (/src\/screens\//.test(d)) closure(d, seen, screens);
  return seen;
}

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
const entry = closure(entryKey);
const entrySize = [...entry].filter((f) => f.endsWith(".js")).reduce((s, f) => s + gz(f), 0);
let worst = { name: "(none)", size: 0 };
const lines = [];
for (const [key, chunk] of Object.entries(manifest)) {
  if (!chunk.isDynamicEntry || !/src\/screens\//.test(key)) continue;
  const extra = [...closure(key, new Set(entry), true)].filter((f) => !entry.has(f) && f.endsWith(".js")).reduce((s, f) => s + gz(f), 0);
  lines.push(`  ${key.replace("src/screens/", "")}: +${kb(extra)}`);
  if (extra > worst.size) worst = { name: key, size: extra };
}
const total = entrySize + worst.size;
console.log(`first-load JavaScript (gzip): entry ${kb(entrySize)} (${[...entry].join(", ")})`);
console.log(lines.sort().join("\n"));
console.log(`largest first view: entry + ${worst.name.replace("src/screens/", "")} = ${kb(total)} of ${kb(BUDGET)} allowed`);
if (total > BUDGET) {
  console.error(`FAIL: the first-load JavaScript is ${kb(total)}, over the ${kb(BUDGET)} budget`);
  process.exit(1);
}
