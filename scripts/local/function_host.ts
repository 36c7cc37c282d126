/**
 * Runs one Supabase Edge Function, unmodified, as a plain Deno process for the local gateway.
 *
 * Function entry files call `Deno.serve(app.fetch)` without a port, as they do on Supabase.
 * Before importing the entry, the host replaces `Deno.serve` so the function listens on
 * 127.0.0.1 with an OS-chosen port, then prints one line `LISTENING <port>` on stdout, which
 * the gateway waits for. Every overload of `Deno.serve` is accepted: `(handler)`,
 * `(options, handler)` and `(options)` with `options.handler`.
 *
 * Usage: `deno run -A --no-prompt scripts/local/function_host.ts <path/to/function/index.ts>`
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The line prefix the gateway reads to learn a function's port. */
export const LISTENING_PREFIX = "LISTENING ";

type ServeHandler = (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

/** The options and handler the host passes on to the real `Deno.serve`. */
export interface HostedServe {
  options: Deno.ServeTcpOptions;
  handler: ServeHandler;
}

/**
 * Rewrites the arguments of a `Deno.serve` call so the server listens on 127.0.0.1:0 and
 * reports its port; the function's own `onListen`, `onError` and `signal` are kept.
 *
 * @param args the arguments the function passed to `Deno.serve`
 * @param onPort called with the port once the server listens
 * @returns the options and handler for the real `Deno.serve`
 * @throws {Error} when no handler was given or the options ask for a unix socket
 * @example
 * ```ts
 * const { options, handler } = hostedServe([app.fetch], (port) => console.log(port));
 * options.port; // 0
 * ```
 */
export function hostedServe(args: unknown[], onPort: (port: number) => void): HostedServe {
  let options: Record<string, unknown> = {};
  let handler: unknown;
  if (typeof args[0] === "function") {
    handler = args[0];
  } else if (args[0] !== null && typeof args[0] === "object") {
    options = args[0] as Record<string, unknown>;
    handler = typeof args[1] === "function" ? args[1] : options.handler;
  }
  if (typeof handler !== "function") {
    throw new Error("Cannot serve the function: Deno.serve was called without a handler");
  }
  if ("path" in options) {
    throw new Error("Cannot serve the function: unix socket servers are not supported locally");
  }
  const own = options.onListen as ((addr: Deno.NetAddr) => void) | undefined;
  const { handler: _ignored, ...rest } = options;
  return {
    options: {
      ...rest,
      hostname: "127.0.0.1",
      port: 0,
      onListen: (addr: Deno.NetAddr) => {
        onPort(addr.port);
        own?.(addr);
      },
    } as Deno.ServeTcpOptions,
    handler: handler as ServeHandler,
  };
}

function installServe(): void {
  const realServe = Deno.serve.bind(Deno) as (
    options: Deno.ServeTcpOptions,
    handler: ServeHandler,
  ) => Deno.HttpServer<Deno.NetAddr>;
  let announced = false;
  const serve = (...args: unknown[]) => {
    const { options, handler } = hostedServe(args, (port) => {
      // Only the first server is the function's; later ones (if any) are not routed to.
      if (announced) return;
      announced = true;
      console.log(`${LISTENING_PREFIX}${port}`);
    });
    return realServe(options, handler);
  };
  Object.defineProperty(Deno, "serve", { value: serve, configurable: true, writable: true });
}

if (import.meta.main) {
  const entry = Deno.args[0];
  if (!entry) {
    console.error("Cannot start the function host: pass the path of a function's index.ts");
    Deno.exit(2);
  }
  installServe();
  try {
    await import(pathToFileURL(resolve(entry)).href);
  } catch (err) {
    console.error(`Cannot boot function ${entry}:`, err);
    Deno.exit(1);
  }
}
