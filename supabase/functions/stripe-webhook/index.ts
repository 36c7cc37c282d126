import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { createStripeClient, parseStripeEnv } from "../_shared/stripe/client.ts";
import { createStripeWebhookApp } from "./app.ts";

const env = functionEnv();
const stripeEnv = parseStripeEnv(Deno.env.toObject());
if (!stripeEnv.STRIPE_WEBHOOK_SECRET) {
  throw new Error("Cannot start stripe-webhook: STRIPE_WEBHOOK_SECRET is not set");
}
const app = createStripeWebhookApp({
  sql: createDb(env.SUPABASE_DB_URL, { max: 8 }),
  stripe: createStripeClient(stripeEnv),
  webhookSecret: stripeEnv.STRIPE_WEBHOOK_SECRET,
});

Deno.serve(app.fetch);
