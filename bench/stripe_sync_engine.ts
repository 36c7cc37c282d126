/**
 * The baseline of the Stripe webhook benchmark: the npm package
 * `@supabase/stripe-sync-engine`, loaded from its CommonJS build (`createRequire`): its ESM
 * build's `runMigrations` fails silently on a `__dirname` error. Used in process by
 * `stripe_webhook_bench.ts` and behind a minimal HTTP server by
 * `stripe_sync_engine_server.ts`.
 *
 * @module
 */
import { createRequire } from "node:module";
import Stripe from "stripe";

/** The baseline's surface we use (typed here; the package is loaded with `require`). */
interface SyncEngineModule {
  runMigrations(config: { databaseUrl: string; schema: string; logger?: unknown }): Promise<void>;
  StripeSync: new (config: Record<string, unknown>) => BaselineSync;
}

/** A configured `StripeSync`. */
export interface BaselineSync {
  processWebhook(payload: string, signature: string | undefined): Promise<void>;
  postgresClient: { pool: { end(): Promise<void> } };
}

/** What the baseline needs: its own database, the account's key and the endpoint's secret. */
export interface BaselineConfig {
  databaseUrl: string;
  stripeSecretKey: string;
  webhookSecret: string;
}

/** A logger for the baseline that keeps quiet (pino's shape). */
function quietLogger(): Record<string, unknown> {
  const noop = () => {};
  const logger: Record<string, unknown> = {
    info: noop,
    warn: noop,
    error: noop,
    debug: noop,
    trace: noop,
    fatal: noop,
  };
  logger.child = () => logger;
  return logger;
}

function load(): SyncEngineModule {
  const require = createRequire(import.meta.url);
  return require("@supabase/stripe-sync-engine") as SyncEngineModule;
}

/** Creates the baseline's schema in its database with its own migrations. */
export async function migrateBaseline(databaseUrl: string): Promise<void> {
  await load().runMigrations({ databaseUrl, schema: "stripe", logger: quietLogger() });
}

/**
 * The baseline as the benchmark runs it: a pool of 8 (as our function's), no backfill of
 * related objects (ours does not fetch them either).
 */
export function createBaseline(config: BaselineConfig): BaselineSync {
  return new (load().StripeSync)({
    poolConfig: { connectionString: config.databaseUrl, max: 8 },
    stripeSecretKey: config.stripeSecretKey,
    stripeWebhookSecret: config.webhookSecret,
    stripeApiVersion: Stripe.API_VERSION,
    backfillRelatedEntities: false,
    logger: quietLogger(),
  });
}
