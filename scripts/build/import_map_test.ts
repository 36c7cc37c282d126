/**
 * The functions' import map (`supabase/functions/import_map.json`) is the only list of
 * dependencies: the root `deno.json` points at it instead of declaring its own `imports`, every
 * function names it in `supabase/config.toml` (so `supabase functions deploy` uploads it), and
 * every bare import of the functions' code resolves through it.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAP_PATH = "supabase/functions/import_map.json";
const FUNCTIONS_DIR = join(ROOT, "supabase/functions");

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(join(ROOT, path)));
}

async function functionFolders(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(FUNCTIONS_DIR)) {
    if (!e.isDirectory || e.name.startsWith("_") || e.name.startsWith(".")) continue;
    const entry = await Deno.stat(join(FUNCTIONS_DIR, e.name, "index.ts")).catch(() => null);
    if (entry?.isFile) names.push(e.name);
  }
  return names.sort();
}

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) files.push(...await sourceFiles(path));
    else if (/\.tsx?$/.test(e.name) && !/_test\.tsx?$/.test(e.name)) files.push(path);
  }
  return files;
}

Deno.test("deno.json takes its imports from the functions' import map and declares none of its own", async () => {
  const deno = await readJson("deno.json");
  assert.equal(deno.importMap, `./${MAP_PATH}`);
  assert.equal(deno.imports, undefined, `add dependencies to ${MAP_PATH}, not to deno.json`);
  assert.equal(deno.scopes, undefined);
});

Deno.test("every function names the import map in config.toml, so the CLI uploads it", async () => {
  const config = parse(await Deno.readTextFile(join(ROOT, "supabase/config.toml"))) as {
    functions?: Record<string, { import_map?: string }>;
  };
  for (const name of await functionFolders()) {
    assert.equal(
      config.functions?.[name]?.import_map,
      "./functions/import_map.json",
      `[functions.${name}] import_map in supabase/config.toml`,
    );
    for (const own of ["deno.json", "deno.jsonc", "import_map.json"]) {
      const found = await Deno.stat(join(FUNCTIONS_DIR, name, own)).catch(() => null);
      assert.equal(found, null, `supabase/functions/${name}/${own} would shadow the import map`);
    }
  }
});

Deno.test("every bare import of the functions' code resolves through the import map, pinned", async () => {
  const { imports } = await readJson(MAP_PATH) as { imports: Record<string, string> };
  for (const [key, target] of Object.entries(imports)) {
    assert.match(target, /^npm:\/?(@[^/]+\/)?[^@/]+@\d+\.\d+\.\d+/, `${key} is pinned`);
  }
  const specifier = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']/g;
  const seen = new Set<string>();
  for (const file of await sourceFiles(FUNCTIONS_DIR)) {
    const text = await Deno.readTextFile(file);
    for (const [, spec] of text.matchAll(specifier)) {
      if (/^(\.{1,2}\/|\/|[a-z]+:)/.test(spec)) continue;
      seen.add(spec);
      const resolves = spec in imports ||
        Object.keys(imports).some((k) => k.endsWith("/") && spec.startsWith(k));
      assert.ok(resolves, `${relative(ROOT, file)} imports "${spec}", missing from ${MAP_PATH}`);
    }
  }
  for (const used of ["hono", "zod", "postgres", "stripe", "jose"]) assert.ok(seen.has(used), used);
});
