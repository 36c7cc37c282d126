import { createDb } from "../_shared/db.ts";
import { functionEnv } from "../_shared/env.ts";
import { createStripeClient, parseStripeEnv } from "../_shared/stripe/client.ts";
import { storedEndpointSecret } from "../_shared/stripe/webhook_endpoint.ts";
import { createStripeWebhookApp } from "./app.ts";

const env = functionEnv();
const stripeEnv = parseStripeEnv(Deno.env.toObject());
const sql = createDb(env.SUPABASE_DB_URL, { max: 8 });

const app = createStripeWebhookApp({
  sql,
  stripe: createStripeClient(stripeEnv),
  webhookSecret: stripeEnv.STRIPE_WEBHOOK_SECRET ?? "",
  storedSecret: storedEndpointSecret(sql),
});

Deno.serve(app.fetch);
