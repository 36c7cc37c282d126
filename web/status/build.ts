/**
 * Builds the status page into `web/status/dist/`: `status.js` (bundled with `deno bundle`
 * for the browser) and `index.html` with the settings of the build environment embedded.
 *
 * `deno task build:status` (App Platform runs it as the static site's `build_command`, with
 * the `BUILD_TIME` variables of `.do/app.yaml`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseStatusConfig, type StatusConfig } from "./config.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PLACEHOLDER = "/*STATUS_CONFIG*/";

/**
 * Embeds settings as JSON at a placeholder of an HTML template. `<` is escaped so that no value
 * can close the script element. Shared with the console's build (`console/build.ts`).
 *
 * @param template the HTML
 * @param placeholder the text to replace, e.g. `/*STATUS_CONFIG*\/`
 * @param settings any JSON-serialisable value
 * @throws {Error} when the template lacks the placeholder
 */
export function embedSettings(template: string, placeholder: string, settings: unknown): string {
  if (!template.includes(placeholder)) {
    throw new Error(`Cannot render index.html: the template lacks ${placeholder}`);
  }
  const json = JSON.stringify(settings).replaceAll("<", "\\u003c");
  return template.replace(placeholder, () => json);
}

/**
 * Renders `index.html` with the settings embedded as JSON (see {@link embedSettings}).
 *
 * @param template the contents of `web/status/index.html`
 * @param config the page's settings
 * @returns the HTML to serve
 * @throws {Error} when the template has no `/*STATUS_CONFIG*\/` placeholder
 */
export function renderIndex(template: string, config: StatusConfig): string {
  return embedSettings(template, PLACEHOLDER, config);
}

/**
 * Bundles an entry module for the browser, minified, with `deno bundle` (also the console's).
 *
 * @param entry the entry module
 * @param output the file to write
 * @param what what is bundled, for the error message
 * @throws {Error} "Cannot bundle <what>: <deno's message>"
 */
export async function bundleForBrowser(entry: string, output: string, what: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "--minify", "--output", output, entry],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`Cannot bundle ${what}: ${new TextDecoder().decode(stderr)}`);
  }
}

/**
 * Builds the page.
 *
 * @param vars the build environment (`STATUS_ENV`, `STATUS_FUNCTIONS_URL`, `STATUS_ANON_KEY`)
 * @param options `outDir` (default `web/status/dist`)
 * @returns the output folder
 * @throws {Error} on invalid settings or a failed bundle
 * @example
 * ```ts
 * await buildStatusPage(Deno.env.toObject());
 * ```
 */
export async function buildStatusPage(
  vars: Record<string, string | undefined>,
  options: { outDir?: string } = {},
): Promise<string> {
  const config = parseStatusConfig(vars);
  const outDir = options.outDir ?? join(HERE, "dist");
  await Deno.mkdir(outDir, { recursive: true });
  await bundleForBrowser(join(HERE, "main.ts"), join(outDir, "status.js"), "the status page");
  const template = await Deno.readTextFile(join(HERE, "index.html"));
  await Deno.writeTextFile(join(outDir, "index.html"), renderIndex(template, config));
  return outDir;
}

if (import.meta.main) {
  try {
    const out = await buildStatusPage(Deno.env.toObject());
    console.log(`status page built into ${out}`);
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(1);
  }
}
