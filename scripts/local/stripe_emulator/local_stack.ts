/**
 * The Stripe emulator inside the local stack: minting one account (secret key) per
 * environment, starting and stopping the emulator process, registering each environment's
 * `stripe-webhook` endpoint, and the Stripe settings each environment's functions get.
 *
 * An environment can be pointed at real Stripe test mode instead: start the stack with
 * `STAGECOACH_STRIPE_KEY_<ENV>=sk_test_…` (and `STAGECOACH_STRIPE_WEBHOOK_SECRET_<ENV>`, e.g.
 * the secret `stripe listen --print-secret` shows); that environment then gets no
 * `STRIPE_API_BASE`, and the same code talks to Stripe.
 *
 * @module
 */
import { join } from "node:path";
import {
  type LocalEnv,
  localEnvs,
  REPO_ROOT,
  type StackOptions,
  type StripeEmulatorAccount,
  stripeEmulatorConfig,
} from "../config.ts";
import { readDotenvFile } from "../dotenv.ts";
import { ensureStackDaemon, stopDetached, waitFor } from "../process.ts";
import {
  createStripeClient,
  describeStripeTarget,
} from "../../../supabase/functions/_shared/stripe/client.ts";
import {
  ensureWebhookEndpoint,
  type KnownSecret,
} from "../../../supabase/functions/_shared/stripe/webhook_endpoint.ts";
import { newId } from "./store.ts";

/** Prints one progress line. */
export type Logger = (line: string) => void;

function randomToken(length: number): string {
  return newId("x", length).slice(2);
}

/** Creates the accounts file on first start; later starts keep the keys. */
export async function ensureStripeAccounts(opts: StackOptions): Promise<StripeEmulatorAccount[]> {
  const config = stripeEmulatorConfig(opts);
  await Deno.mkdir(config.dir, { recursive: true });
  try {
    return JSON.parse(await Deno.readTextFile(config.accountsFile)) as StripeEmulatorAccount[];
  } catch {
    const accounts = localEnvs(opts).map((env) => ({
      id: `acct_${randomToken(16)}`,
      label: env.name,
      secret_key: `sk_test_emu${env.name.slice(0, 3)}_${randomToken(32)}`,
    }));
    await Deno.writeTextFile(config.accountsFile, JSON.stringify(accounts, null, 2) + "\n", {
      mode: 0o600,
    });
    return accounts;
  }
}

/** True when the emulator answers its health check. */
export async function stripeEmulatorHealthy(opts: StackOptions): Promise<boolean> {
  try {
    const res = await fetch(`${stripeEmulatorConfig(opts).url}/health`, {
      signal: AbortSignal.timeout(1000),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** Starts the emulator unless it runs, and waits until it answers. */
export async function startStripeEmulator(opts: StackOptions, log: Logger): Promise<void> {
  const config = stripeEmulatorConfig(opts);
  await ensureStripeAccounts(opts);
  const started = await ensureStackDaemon("scripts/local/stripe_emulator/main.ts", {
    ...config,
    cwd: REPO_ROOT,
    home: opts.home,
    portOffset: opts.portOffset,
  });
  if (started) {
    log(`started the Stripe emulator on ${config.url}`);
  }
  await waitFor(`the Stripe emulator on ${config.url}`, () => stripeEmulatorHealthy(opts), {
    timeoutMs: 60_000,
  });
}

/** Stops the emulator (it saves its objects first). */
export async function stopStripeEmulator(opts: StackOptions): Promise<void> {
  await stopDetached(stripeEmulatorConfig(opts).pidFile);
}

function envVar(prefix: string, env: LocalEnv): string | undefined {
  const value = Deno.env.get(`${prefix}_${env.name.toUpperCase()}`);
  return value === "" ? undefined : value;
}

/** The `stripe-webhook` URL of an environment. */
export function webhookUrl(env: LocalEnv): string {
  return `${env.functionsUrl}/stripe-webhook`;
}

/**
 * The Stripe function secrets of one environment, as dotenv lines: the emulator's account
 * key, `STRIPE_API_BASE` and the signing secret of the endpoint registered for the
 * environment's `stripe-webhook` (created, or rolled when its secret was lost) — or the
 * real Stripe settings from `STAGECOACH_STRIPE_KEY_<ENV>`.
 */
export async function stripeFunctionSecrets(env: LocalEnv, opts: StackOptions): Promise<string[]> {
  const realKey = envVar("STAGECOACH_STRIPE_KEY", env);
  if (realKey) {
    const lines = [`STRIPE_SECRET_KEY=${realKey}`, "STRIPE_API_BASE="];
    const secret = envVar("STAGECOACH_STRIPE_WEBHOOK_SECRET", env);
    if (secret) lines.push(`STRIPE_WEBHOOK_SECRET=${secret}`);
    return lines;
  }
  const config = stripeEmulatorConfig(opts);
  const account = (await ensureStripeAccounts(opts)).find((a) => a.label === env.name);
  if (!account) throw new Error(`Cannot find the Stripe emulator account of ${env.name}`);
  const stripe = createStripeClient({
    STRIPE_SECRET_KEY: account.secret_key,
    STRIPE_API_BASE: config.url,
  });
  const secretFile = join(env.dir, "stripe_webhook.json");
  let known: KnownSecret | null = null;
  try {
    known = JSON.parse(await Deno.readTextFile(secretFile)) as KnownSecret;
  } catch {
    known = null;
  }
  const ensured = await ensureWebhookEndpoint(stripe, { url: webhookUrl(env), known });
  if (ensured.action !== "kept") {
    await Deno.writeTextFile(
      secretFile,
      JSON.stringify({ endpoint_id: ensured.endpoint_id, secret: ensured.secret }) + "\n",
      { mode: 0o600 },
    );
  }
  return [
    `STRIPE_SECRET_KEY=${account.secret_key}`,
    `STRIPE_API_BASE=${config.url}`,
    `STRIPE_WEBHOOK_SECRET=${ensured.secret}`,
  ];
}

/** Appends an environment's Stripe secrets to its `functions.env` (rewritten at every start). */
export async function appendStripeSecrets(env: LocalEnv, opts: StackOptions): Promise<void> {
  const lines = await stripeFunctionSecrets(env, opts);
  await Deno.writeTextFile(
    env.functionsEnvFile,
    ["# Stripe (scripts/local/stripe_emulator/local_stack.ts)", ...lines, ""].join("\n"),
    { append: true, mode: 0o600 },
  );
}

/**
 * What `status` shows about Stripe for one environment: where its functions send Stripe
 * calls (read from its `functions.env`, never showing the key) and whether the emulator runs.
 */
export async function stripeStatus(
  env: LocalEnv,
  opts: StackOptions,
): Promise<{ stripe: string; stripe_emulator: "up" | "down"; usesEmulator: boolean }> {
  const secrets = await readDotenvFile(env.functionsEnvFile).catch(
    () => ({} as Record<string, string>),
  );
  const key = secrets.STRIPE_SECRET_KEY;
  const base = secrets.STRIPE_API_BASE || undefined;
  const up = await stripeEmulatorHealthy(opts);
  return {
    stripe: key
      ? describeStripeTarget({ STRIPE_SECRET_KEY: key, STRIPE_API_BASE: base }) +
        (secrets.STRIPE_WEBHOOK_SECRET ? "" : " (no webhook secret)")
      : "not configured (run npm start)",
    stripe_emulator: up ? "up" : "down",
    usesEmulator: base !== undefined,
  };
}
