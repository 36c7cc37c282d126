/**
 * The local Stripe emulator process: `deno run -A scripts/local/stripe_emulator/main.ts`.
 *
 * Listens on 127.0.0.1:<12111 + port offset> (see `config.ts`), accepts the secret keys the
 * stack minted in `<home>/stripe_emulator/accounts.json` (one account per environment),
 * restores its objects from `state.json` and saves them there every few seconds after a
 * change and when it stops (SIGTERM / SIGINT). Prints `READY stripe-emulator <url>`.
 *
 * Settings (environment variables): `STRIPE_EMULATOR_RATE_LIMIT` (requests/s per account,
 * default 1000), `STRIPE_EMULATOR_RETRY_BASE_MS` (first delivery retry, default 500) and
 * `STRIPE_EMULATOR_MAX_ATTEMPTS` (default 6).
 *
 * @module
 */
import { readStripeAccounts, stackOptionsFromEnv, stripeEmulatorConfig } from "../config.ts";
import { createEmulatorApp } from "./app.ts";
import { Deliverer } from "./delivery.ts";
import { restore, type Snapshot, snapshot } from "./store.ts";

function intSetting(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`Cannot read ${name}: "${raw}" is not a positive whole number`);
  }
  return n;
}

async function main(): Promise<void> {
  const config = stripeEmulatorConfig(stackOptionsFromEnv());
  const specs = await readStripeAccounts(config);
  let saved: Snapshot | null = null;
  try {
    saved = JSON.parse(await Deno.readTextFile(config.stateFile)) as Snapshot;
  } catch {
    saved = null;
  }
  const accounts = restore(specs, saved);
  const deliverer = new Deliverer({
    retryBaseMs: intSetting("STRIPE_EMULATOR_RETRY_BASE_MS", 500),
    maxAttempts: intSetting("STRIPE_EMULATOR_MAX_ATTEMPTS", 6),
    log: (line) => console.error(`delivery: ${line}`),
  });
  const app = createEmulatorApp({
    accounts,
    deliverer,
    rateLimitPerSecond: intSetting("STRIPE_EMULATOR_RATE_LIMIT", 1000),
  });

  let dirty = false;
  async function save(): Promise<void> {
    if (!dirty) return;
    dirty = false;
    const tmp = `${config.stateFile}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(snapshot(accounts.values())), { mode: 0o600 });
    await Deno.rename(tmp, config.stateFile);
  }
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: config.port, onListen: () => {} },
    (request) => {
      if (request.method !== "GET") dirty = true;
      return app.fetch(request);
    },
  );
  const timer = setInterval(() => save().catch((e) => console.error(`save: ${e.message}`)), 3000);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    deliverer.stop();
    await server.shutdown();
    dirty = true;
    await save();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.log(`READY stripe-emulator ${config.url} accounts=${accounts.size}`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`stripe-emulator: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
