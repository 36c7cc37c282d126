/**
 * Serves a built console folder (`build.ts`) on a local port: the local stack runs one per
 * environment (`npm start`, shown by `status`). Files only, no directory listing; anything
 * else is a 404. The page may load only its own script and style and talk only to its
 * environment's API (a Content-Security-Policy that also proves the bundle needs no inline
 * script or eval).
 *
 * `deno run -A console/serve.ts --dir <folder> --port <port> --api <API URL>`
 *
 * @module
 */
import { extname, join, normalize } from "node:path";
import { parseArgs } from "node:util";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
};

/**
 * Creates the handler.
 *
 * @param dir the built console
 * @param apiUrl the environment's API URL (the one origin the page may call)
 * @returns a `Deno.serve` handler
 * @example
 * ```ts
 * Deno.serve({ port: 54323 }, consoleHandler("console/dist", "http://127.0.0.1:54321"));
 * ```
 */
export function consoleHandler(dir: string, apiUrl: string): (req: Request) => Promise<Response> {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${new URL(apiUrl).origin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed", { status: 405 });
    }
    const path = decodeURIComponent(new URL(req.url).pathname);
    const rel = normalize(path === "/" ? "/index.html" : path);
    if (rel.includes("..") || !TYPES[extname(rel)]) {
      return new Response("Not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(join(dir, rel));
      return new Response(req.method === "HEAD" ? null : body, {
        headers: {
          "content-type": TYPES[extname(rel)],
          "content-security-policy": csp,
          "cache-control": "no-cache",
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
        },
      });
    } catch {
      return new Response("Not found", { status: 404 });
    }
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { dir: { type: "string" }, port: { type: "string" }, api: { type: "string" } },
  });
  if (!values.dir || !values.port || !values.api) {
    console.error("usage: console/serve.ts --dir <folder> --port <port> --api <API URL>");
    Deno.exit(2);
  }
  Deno.serve(
    { hostname: "127.0.0.1", port: Number(values.port) },
    consoleHandler(values.dir, values.api),
  );
}
