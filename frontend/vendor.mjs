// Copies the pinned npm builds the web UI uses, with their licences, into the Python package.
// Run from frontend/: `npm ci && npm run vendor`. Writes MANIFEST.json (name, version, sha256).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "slipstream", "server", "ui", "static", "vendor");

// package -> [file in the package, name in vendor/]
const FILES = {
  "htmx.org": [
    ["dist/htmx.min.js", "htmx.min.js"],
    ["LICENSE", "htmx.LICENSE.txt"],
  ],
  "@dagrejs/dagre": [
    ["dist/dagre.min.js", "dagre.min.js"],
    ["LICENSE", "dagre.LICENSE.txt"],
  ],
  "@dagrejs/graphlib": [["LICENSE", "graphlib.LICENSE.txt"]], // bundled inside dagre.min.js
};

mkdirSync(target, { recursive: true });
const manifest = {};
for (const [name, files] of Object.entries(FILES)) {
  const root = join(here, "node_modules", name);
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  const entry = { version, files: {} };
  for (const [source, dest] of files) {
    copyFileSync(join(root, source), join(target, dest));
    entry.files[dest] = createHash("sha256").update(readFileSync(join(target, dest))).digest("hex");
  }
  manifest[name] = entry;
}
writeFileSync(join(target, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`vendored ${Object.keys(manifest).length} packages into ${target}`);
