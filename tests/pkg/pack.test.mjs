// The npm package as published: `npm pack` of pkg-js holds exactly the files users need (the
// wasm, the glue, the modules, the types, the `bin`, README and LICENSE) and nothing else;
// everything package.json points at is in it; every module it ships imports only files it
// ships; and, installed from the tarball into an empty project, its command runs and its
// export conditions route each runtime to its entry. Prints the tarball's size and file list.
// Needs `npm --prefix pkg-js run build` first (scripts/test.sh does it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";

import { npm, packPackage, pkgDir } from "../support/pkg-tarball.mjs";

const pkgJson = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));

/** What the tarball must hold, exactly. */
const EXPECTED = [
  "LICENSE",
  "README.md",
  "api.js",
  "bin/clerk-edge-guard.mjs",
  "diagnose.js",
  "dist/clerk_edge_guard.js",
  "dist/clerk_edge_guard_bg.wasm",
  "dist/clerk_edge_guard_report.js",
  "dist/clerk_edge_guard_report_bg.wasm",
  "dist/clerk_edge_guard_sync.js",
  "dist/clerk_edge_guard_sync_bg.wasm",
  "edge.js",
  "guard.js",
  "handlers.js",
  "identity.js",
  "index.d.ts",
  "index.js",
  "middleware.js",
  "package.json",
  "report.js",
  "route-matcher.js",
  "server-auth.js",
  "server-node.js",
  "server.d.ts",
  "server.js",
  "stores.js",
  "sync-edge.js",
  "sync-node.js",
  "sync.d.ts",
  "sync.js",
  "webcrypto.js",
];

let pack;
let files;
let project;

before(async () => {
  pack = await packPackage();
  files = pack.info.files.map((f) => f.path).sort();
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`# ${pack.info.filename}: ${pack.info.size} bytes (${kib(pack.info.size)}) packed, ` +
    `${pack.info.unpackedSize} bytes (${kib(pack.info.unpackedSize)}) unpacked, ${files.length} files`);
  for (const f of [...pack.info.files].sort((a, b) => a.path.localeCompare(b.path))) {
    console.log(`#   ${String(f.size).padStart(8)}  ${f.path}`);
  }

  // An empty project that installs the tarball as a user would (no network: no dependencies).
  project = mkdtempSync(join(tmpdir(), "ceg-pack-install-"));
  // On exit, not in after(): a run whose name pattern skips every test skips after() too.
  process.on("exit", () => rmSync(project, { recursive: true, force: true }));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "pack-test", private: true, type: "module" }));
  await npm(["install", "--offline", "--loglevel=error", pack.tarball], { cwd: project });
});

test("the tarball holds exactly the package's files: no build script, sources, maps or tests", () => {
  assert.deepEqual(files, [...EXPECTED].sort());
});

/** Every path package.json names (exports targets, main, types, bin), without "./". */
function namedTargets(json) {
  const targets = new Set();
  const walk = (value) => {
    if (typeof value === "string") targets.add(value.replace(/^\.\//, ""));
    else if (value && typeof value === "object") Object.values(value).forEach(walk);
  };
  walk(json.exports);
  walk(json.main);
  walk(json.types);
  walk(json.bin);
  return [...targets].sort();
}

test("every exports target, main, types and bin is in the tarball", () => {
  const targets = namedTargets(pkgJson);
  assert.ok(targets.includes("edge.js") && targets.includes("index.js") && targets.includes("bin/clerk-edge-guard.mjs"));
  for (const target of targets) {
    assert.ok(files.includes(target), `${target} is named by package.json but not packed`);
  }
  // `types` first in each subpath: TypeScript takes the first condition it matches.
  for (const [subpath, entry] of Object.entries(pkgJson.exports)) {
    if (typeof entry === "object") assert.equal(Object.keys(entry)[0], "types", subpath);
    if (typeof entry === "object") assert.ok(!("browser" in entry), `${subpath}: no browser build`);
  }
  assert.equal(pkgJson.exports["."].default, "./index.js");
});

/** The module specifiers a JS file imports statically or with a literal `import()`. */
function importsOf(source) {
  const specifiers = [];
  for (const m of source.matchAll(/(?:^|[;\s}])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']/g)) specifiers.push(m[1]);
  for (const m of source.matchAll(/(?:^|[;\s])import\s*["']([^"']+)["']/g)) specifiers.push(m[1]);
  for (const m of source.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) specifiers.push(m[1]);
  return specifiers;
}

test("every shipped module imports only shipped files, Node built-ins and declared peers", () => {
  const peers = Object.keys(pkgJson.peerDependencies ?? {});
  const builtins = new Set(builtinModules);
  let relative = 0;
  for (const file of files.filter((f) => /\.m?js$/.test(f))) {
    const source = readFileSync(join(project, "node_modules", "clerk-edge-guard", file), "utf8");
    for (const specifier of importsOf(source)) {
      if (specifier.startsWith(".")) {
        const target = new URL(specifier.replace(/\?.*$/, ""), `file:///pkg/${file}`).pathname.slice("/pkg/".length);
        assert.ok(files.includes(target), `${file} imports ${specifier}, which is not packed`);
        relative += 1;
      } else {
        const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0];
        assert.ok(
          specifier.startsWith("node:") || builtins.has(name) || peers.includes(name),
          `${file} imports ${specifier}: neither a Node built-in nor a declared peer dependency`,
        );
      }
    }
    for (const [, map] of source.matchAll(/[#@] sourceMappingURL=(\S+)/g)) {
      assert.ok(map.startsWith("data:") || files.includes(new URL(map, `file:///pkg/${file}`).pathname.slice(5)),
        `${file} points at a source map that is not packed: ${map}`);
    }
  }
  assert.ok(relative >= 10, `the import scan found only ${relative} relative imports`);
});

function runIn(cwd, command, args) {
  return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test("the bin runs from the installed tarball: usage, and the version from the packed wasm", () => {
  const bin = join(project, "node_modules", ".bin", "clerk-edge-guard");
  const help = runIn(project, bin, ["--help"]);
  assert.match(help, /^Usage: clerk-edge-guard report \[files\.\.\.\]/);
  assert.equal(runIn(project, bin, ["--version"]).trim(), pkgJson.version);
  // A usage mistake exits 2 with one line saying what to do.
  assert.throws(() => runIn(project, bin, ["nonsense"]), (error) => error.status === 2 && /unknown command/.test(error.stderr));
});

test("installed from the tarball, each runtime's condition resolves to its entry, and Node loads it", () => {
  const resolveWith = (conditions, specifier = "clerk-edge-guard") =>
    runIn(project, process.execPath, [
      ...conditions.map((c) => `--conditions=${c}`),
      "--input-type=module",
      "-e",
      `console.log(import.meta.resolve(${JSON.stringify(specifier)}).split("/node_modules/clerk-edge-guard/")[1])`,
    ]).trim();
  assert.equal(resolveWith([]), "index.js");
  for (const condition of ["edge-light", "workerd", "worker"]) assert.equal(resolveWith([condition]), "edge.js", condition);
  // Bundled server code (Next's `react-server` layer) gets the bare `next/*` imports Next
  // aliases; Node's own loader the file names it needs.
  assert.equal(resolveWith(["react-server"], "clerk-edge-guard/server"), "server.js");
  assert.equal(resolveWith([], "clerk-edge-guard/server"), "server-node.js");
  // The resync with its own wasm: edge code imports it from here.
  assert.equal(resolveWith(["edge-light"], "clerk-edge-guard/sync"), "sync-edge.js");
  assert.equal(resolveWith(["node"], "clerk-edge-guard/sync"), "sync-node.js");
  const loaded = JSON.parse(runIn(project, process.execPath, [
    "--input-type=module",
    "-e",
    'const m = await import("clerk-edge-guard"); console.log(JSON.stringify({ version: m.version(), middleware: typeof m.clerkEdgeMiddleware }))',
  ]));
  assert.deepEqual(loaded, { version: pkgJson.version, middleware: "function" });
});
