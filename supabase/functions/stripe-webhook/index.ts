import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { createStripeClient, parseStripeEnv } from "../_shared/stripe/client.ts";
import { createStripeWebhookApp } from "./app.ts";

const env = functionEnv();
const stripeEnv = parseStripeEnv(Deno.env.toObject());
const sql = createDb(env.SUPABASE_DB_URL, { max: 8 });

// The secret catalog sync's apply recorded for an endpoint it created or rolled (never one a
// person stored under a config key): a named service read, cached for a minute.
let cached: { at: number; secret: string | null } | null = null;
async function storedSecret(): Promise<string | null> {
  if (cached && Date.now() - cached.at < 60_000) return cached.secret;
  const [row] = await sql`select private.trusted_endpoint_secret() as secret`;
  cached = { at: Date.now(), secret: row?.secret ?? null };
  return cached.secret;
}

const app = createStripeWebhookApp({
  sql,
  stripe: createStripeClient(stripeEnv),
  webhookSecret: stripeEnv.STRIPE_WEBHOOK_SECRET ?? "",
  storedSecret,
});

Deno.serve(app.fetch);
