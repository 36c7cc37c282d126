/**
 * The baseline behind the smallest HTTP server that hands the raw body to
 * `processWebhook`, in a process of its own — as our function runs in its own process behind
 * the gateway, so neither shares an event loop with the load generator.
 *
 * Usage: `deno run -A bench/stripe_sync_engine_server.ts` with `BASELINE_DB_URL`,
 * `BASELINE_STRIPE_KEY` and `BASELINE_WEBHOOK_SECRET` set; prints `LISTENING <port>` once it
 * listens on 127.0.0.1.
 *
 * @module
 */
import { createBaseline } from "./stripe_sync_engine.ts";

/** The line the benchmark waits for. */
export const LISTENING_PREFIX = "LISTENING ";

if (import.meta.main) {
  const need = (name: string) => {
    const value = Deno.env.get(name);
    if (!value) {
      console.error(`Cannot start the baseline server: ${name} is not set`);
      Deno.exit(2);
    }
    return value;
  };
  const sync = createBaseline({
    databaseUrl: need("BASELINE_DB_URL"),
    stripeSecretKey: need("BASELINE_STRIPE_KEY"),
    webhookSecret: need("BASELINE_WEBHOOK_SECRET"),
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`${LISTENING_PREFIX}${port}`),
  }, async (req) => {
    try {
      await sync.processWebhook(await req.text(), req.headers.get("stripe-signature") ?? undefined);
      return Response.json({ received: true });
    } catch (err) {
      return Response.json({ error: (err as Error).message }, { status: 400 });
    }
  });
}
