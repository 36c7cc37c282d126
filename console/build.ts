/**
 * Builds the console into a folder (default `console/dist/`): `console.js` (bundled and
 * minified for the browser with `deno bundle`), `console.css`, and `index.html` with the
 * environment's settings embedded (`config.ts`: API URL and anon key, never a service key).
 *
 * `deno task build:console` (App Platform runs it as the static site's `build_command`, with
 * the `BUILD_TIME` variables of `.do/app.yaml`); the local stack builds one per environment.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { bundleForBrowser, embedSettings } from "../web/status/build.ts";
import { type ConsoleConfig, parseConsoleConfig } from "./config.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PLACEHOLDER = "/*CONSOLE_CONFIG*/";
const BASE = "/*CONSOLE_BASE*/";

/**
 * Renders `index.html` with the settings embedded as JSON, as the status page does
 * (`embedSettings`: no value can close the script element).
 *
 * @throws {Error} when the template has no placeholder
 */
export function renderConsoleIndex(template: string, config: ConsoleConfig): string {
  const { basePath, ...settings } = config;
  // The script and style by absolute path: a page opened as `/console` (no slash) would
  // otherwise ask for `/console.js`, outside its route.
  return embedSettings(template.replaceAll(BASE, () => basePath), PLACEHOLDER, settings);
}

/** What a build wrote. */
export interface ConsoleBuild {
  outDir: string;
  /** Bytes of `console.js` as served, and gzipped (level 9). */
  jsBytes: number;
  jsGzipBytes: number;
}

/**
 * Builds the console.
 *
 * @param vars the build environment (`CONSOLE_ENV`, `CONSOLE_SUPABASE_URL`, `CONSOLE_ANON_KEY`)
 * @param options `outDir` (default `console/dist`); `script`: a `console.js` already bundled
 *   (by an earlier build) to copy instead of bundling again — the script is the same for every
 *   environment, only `index.html` differs
 * @returns where it was written and the script's size
 * @throws {Error} on invalid settings (a service key among them) or a failed bundle
 * @example
 * ```ts
 * const { jsGzipBytes } = await buildConsole(Deno.env.toObject());
 * ```
 */
export async function buildConsole(
  vars: Record<string, string | undefined>,
  options: { outDir?: string; script?: string } = {},
): Promise<ConsoleBuild> {
  const config = parseConsoleConfig(vars);
  const outDir = options.outDir ?? join(HERE, "dist");
  await Deno.mkdir(outDir, { recursive: true });
  const js = join(outDir, "console.js");
  if (options.script) await Deno.copyFile(options.script, js);
  else await bundleForBrowser(join(HERE, "src/main.tsx"), js, "the console");
  const template = await Deno.readTextFile(join(HERE, "index.html"));
  await Deno.writeTextFile(join(outDir, "index.html"), renderConsoleIndex(template, config));
  await Deno.copyFile(join(HERE, "console.css"), join(outDir, "console.css"));
  const bytes = await Deno.readFile(js);
  return { outDir, jsBytes: bytes.length, jsGzipBytes: gzipSync(bytes, { level: 9 }).length };
}

if (import.meta.main) {
  try {
    const out = await buildConsole(Deno.env.toObject());
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(
      `console built into ${out.outDir}: console.js ${kb(out.jsBytes)}, ${
        kb(out.jsGzipBytes)
      } gzipped`,
    );
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(1);
  }
}
