/**
 * Layering rules the code must keep, checked over the source text:
 *
 * - among the CLI's files (`scripts/stagecoach.ts`, `scripts/cli/`, `scripts/release/`), only
 *   `scripts/cli/target.ts` imports the local stack's configuration (`scripts/local/config.ts`):
 *   every command reaches an environment the same way, hosted or local.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../scripts/local/config.ts";

const CLI_ROOTS = ["scripts/stagecoach.ts", "scripts/cli", "scripts/release"];
const ALLOWED = new Set(["scripts/cli/target.ts"]);

async function tsFiles(path: string): Promise<string[]> {
  const abs = join(REPO_ROOT, path);
  const info = await Deno.stat(abs).catch(() => null);
  if (!info) return [];
  if (info.isFile) return [abs];
  const out: string[] = [];
  for await (const e of Deno.readDir(abs)) {
    if (e.isDirectory) out.push(...await tsFiles(join(path, e.name)));
    else if (e.name.endsWith(".ts")) out.push(join(abs, e.name));
  }
  return out;
}

/** The module specifiers a file imports or re-exports (static and dynamic). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) out.push(m[1]);
  return out;
}

Deno.test("layering: only target.ts imports the local stack's config among CLI files", async () => {
  const offenders: string[] = [];
  for (const root of CLI_ROOTS) {
    for (const file of await tsFiles(root)) {
      const rel = relative(REPO_ROOT, file);
      if (ALLOWED.has(rel)) continue;
      const text = await Deno.readTextFile(file);
      for (const spec of specifiers(text)) {
        const resolved = relative(REPO_ROOT, join(file, "..", spec));
        if (resolved === "scripts/local/config.ts") offenders.push(`${rel} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

Deno.test("layering: the rule notices an offender", () => {
  assert.deepEqual(specifiers('import { localEnv } from "../local/config.ts";'), [
    "../local/config.ts",
  ]);
  assert.deepEqual(specifiers('const m = await import("../local/config.ts");'), [
    "../local/config.ts",
  ]);
});
