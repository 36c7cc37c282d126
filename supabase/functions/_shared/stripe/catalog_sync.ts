/**
 * Catalog sync between environments: the promotion scope `stripe`, an external system of the
 * promotion pipeline (`promotion/external.ts`). It makes the target environment's Stripe
 * account hold a product per tier, the tier prices (by `lookup_key`) and the `stripe-webhook`
 * endpoint, and links `tier_prices.stripe_price_id` to them. The rules are in
 * `catalog_plan.ts`; this module reads the account, makes the changes and undoes them.
 *
 * - **Idempotent**: every POST carries `stagecoach:<promotion>:<change key>:<step>`, so a
 *   retried or killed-and-re-run apply replays Stripe's answers instead of duplicating.
 * - **Compensated**: apply records each step (the effects record, kept by the pipeline in
 *   `ops.promotion_effects`); when a step fails it undoes the steps before it and throws;
 *   `revert` undoes a whole record (created objects archived, lookup keys moved back,
 *   previous fields restored) and is safe to run twice.
 * - **Secrets stay in memory**: the signing secret of an endpoint it creates travels from
 *   `apply` to `record` in this object (by promotion id), never in the effects record;
 *   `record` stores it encrypted as the environment-specific config entry
 *   `stripe.webhook_secret` (`ops.set_config_secret`) and, as the one the webhook trusts, in
 *   `ops.stripe_endpoint_secrets` (`ops.record_endpoint_secret`), inside the apply transaction.
 *
 * @module
 */
import type postgres from "postgres";
import type Stripe from "stripe";
import type { Sql, Tx } from "../db.ts";
import type { EffectsRecord, ExternalSystem } from "../promotion/external.ts";
import { kindSpec } from "../promotion/kinds.ts";
import type { PlanChange } from "../promotion/plan.ts";
import { imageById } from "../promotion/snapshots.ts";
import {
  applyPhase,
  catalogChecks,
  type CatalogEffects,
  type CatalogEndpoint,
  type CatalogPrice,
  type CatalogProduct,
  type CatalogState,
  type CheckedTierPrice,
  type EffectStep,
  endpointOfSecret,
  EndpointRow,
  idempotencyKey,
  parseEffects,
  planCatalog,
  PriceRow,
  ProductRow,
  secretDescription,
  STRIPE_CATALOG_KINDS,
  WEBHOOK_SECRET_KEY,
} from "./catalog_plan.ts";
import { createStripeClient, parseStripeEnv, STRIPE_API_VERSION } from "./client.ts";
import { HANDLED_EVENT_TYPES } from "./events.ts";
import { createRateLimiter } from "./rate_limit.ts";

/** Options of {@link stripeCatalogSystem}. */
export interface StripeCatalogOptions {
  /**
   * The environment's `stripe-webhook` URL, e.g.
   * `https://<ref>.supabase.co/functions/v1/stripe-webhook`.
   */
  webhookUrl: string;
  /**
   * The target database as its owner: planning reads the current `stripe_price_id` links and
   * which endpoint the stored signing secret belongs to.
   */
  target: Sql;
  /**
   * True when the environment's functions hold a signing secret of their own
   * (`STRIPE_WEBHOOK_SECRET`): the existing endpoint is then never rolled.
   */
  functionsHoldSecret?: boolean;
  /** The event types the endpoint receives; default `HANDLED_EVENT_TYPES`. */
  events?: readonly string[];
  /**
   * Requests per second to the account (429s wait for `Retry-After`); default 25, Stripe's
   * test-mode limit (live mode allows 100).
   */
  requestsPerSecond?: number;
}

function toProduct(p: Stripe.Product): CatalogProduct {
  return {
    id: p.id,
    name: p.name,
    description: p.description ?? null,
    active: p.active,
    metadata: p.metadata ?? {},
    created: p.created,
  };
}

function toPrice(p: Stripe.Price): CatalogPrice {
  return {
    id: p.id,
    product: typeof p.product === "string" ? p.product : p.product.id,
    active: p.active,
    currency: p.currency,
    unit_amount: p.unit_amount,
    interval: p.recurring?.interval ?? null,
    interval_count: p.recurring?.interval_count ?? null,
    lookup_key: p.lookup_key,
    metadata: p.metadata ?? {},
    created: p.created,
  };
}

function toEndpoint(e: Stripe.WebhookEndpoint): CatalogEndpoint {
  return {
    id: e.id,
    url: e.url,
    enabled_events: [...e.enabled_events],
    status: e.status,
    api_version: e.api_version ?? null,
    created: e.created,
  };
}

/** What the system reads before planning or checking (its `ExternalState`). */
interface SyncState {
  state: CatalogState;
  links: Record<string, string | null>;
  stored: string | null;
}

/** Runs one Stripe call: paced by a rate limiter, or directly. */
type Run = <T>(call: () => Promise<T>) => Promise<T>;

/** Every item of a list, page after page, each page one paced call. */
async function everyItem<T extends { id: string }>(
  run: Run,
  page: (after: string | undefined) => Promise<Stripe.ApiList<T>>,
): Promise<T[]> {
  const out: T[] = [];
  let after: string | undefined;
  for (;;) {
    const p = await run(() => page(after));
    out.push(...p.data);
    if (!p.has_more || !p.data.length) return out;
    after = p.data[p.data.length - 1].id;
  }
}

/**
 * Reads every product, price and webhook endpoint of an account (all pages).
 *
 * @param opts.run paces each request (a rate limiter's `run`); default: no pacing
 * @example
 * ```ts
 * const { products, prices, endpoints } = await readCatalogState(stripe);
 * ```
 */
export async function readCatalogState(
  stripe: Stripe,
  opts: { run?: Run } = {},
): Promise<CatalogState> {
  const run: Run = opts.run ?? ((call) => call());
  const [products, prices, endpoints] = await Promise.all([
    everyItem(run, (after) => stripe.products.list({ limit: 100, starting_after: after })),
    everyItem(run, (after) => stripe.prices.list({ limit: 100, starting_after: after })),
    everyItem(
      run,
      (after) => stripe.webhookEndpoints.list({ limit: 100, starting_after: after }),
    ),
  ]);
  return {
    products: products.map(toProduct),
    prices: prices.map(toPrice),
    endpoints: endpoints.map(toEndpoint),
  };
}

/** `tier_prices.stripe_price_id` by lookup key. */
async function readLinks(db: Sql): Promise<Record<string, string | null>> {
  const rows = await db<{ lookup_key: string; stripe_price_id: string | null }[]>`
    select lookup_key, stripe_price_id from public.tier_prices where lookup_key is not null`;
  return Object.fromEntries(rows.map((r) => [r.lookup_key, r.stripe_price_id]));
}

/** The endpoint whose signing secret the database holds, if any. */
async function readStoredSecretEndpoint(db: Sql): Promise<string | null> {
  const [row] = await db<{ description: string | null }[]>`
    select description from public.app_config where key = ${WEBHOOK_SECRET_KEY} and is_secret`;
  return endpointOfSecret(row?.description ?? null);
}

function isMissing(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

/** Makes one promotion's changes, recording each step as it succeeds. */
class Applier {
  readonly effects: CatalogEffects;
  constructor(
    readonly stripe: Stripe,
    readonly run: Run,
    promotionId: string,
    readonly secrets: Map<string, string>,
  ) {
    this.effects = {
      promotion_id: promotionId,
      steps: [],
      price_ids: {},
      product_ids: {},
      endpoint_id: null,
    };
  }

  key(change: PlanChange, step: string) {
    return idempotencyKey(this.effects.promotion_id, change.key, step).then((k) => ({
      idempotencyKey: k,
    }));
  }

  async change(c: PlanChange): Promise<void> {
    if (c.kind === "stripe_products") return await this.product(c);
    if (c.kind === "stripe_prices") return await this.price(c);
    if (c.kind === "stripe_webhook_endpoints") return await this.endpoint(c);
    throw new Error(`Cannot apply a ${c.kind} change: not a Stripe catalog kind`);
  }

  async product(c: PlanChange): Promise<void> {
    const after = ProductRow.parse(c.after);
    if (c.action === "create") {
      const created = await this.run(async () =>
        await this.stripe.products.create({
          name: after.name,
          ...(after.description ? { description: after.description } : {}),
          active: after.active,
          metadata: { tier_slug: after.tier_slug },
        }, await this.key(c, "create"))
      );
      this.effects.steps.push({ op: "product.created", key: c.key, id: created.id });
      this.effects.product_ids[after.tier_slug] = created.id;
      return;
    }
    const before = ProductRow.parse(c.before);
    await this.run(async () =>
      await this.stripe.products.update(before.id!, {
        name: after.name,
        description: after.description ?? "",
        active: after.active,
      }, await this.key(c, c.action))
    );
    this.effects.steps.push({
      op: "product.updated",
      key: c.key,
      id: before.id!,
      previous: { name: before.name, description: before.description, active: before.active },
    });
    this.effects.product_ids[after.tier_slug] = before.id!;
  }

  async price(c: PlanChange): Promise<void> {
    const after = PriceRow.parse(c.after);
    const before = c.before ? PriceRow.parse(c.before) : null;
    if (c.action === "create" || c.action === "replace") {
      const product = after.product ?? this.effects.product_ids[after.tier_slug];
      if (!product) {
        throw new Error(
          `Cannot create price ${after.lookup_key}: tier ${after.tier_slug} has no product`,
        );
      }
      const created = await this.run(async () =>
        await this.stripe.prices.create({
          product,
          currency: after.currency,
          unit_amount: after.unit_amount,
          recurring: {
            interval: after.interval as Stripe.PriceCreateParams.Recurring.Interval,
            interval_count: after.interval_count,
          },
          lookup_key: after.lookup_key!,
          ...(before ? { transfer_lookup_key: true } : {}),
          active: after.active,
          metadata: { tier_slug: after.tier_slug },
        }, await this.key(c, "create"))
      );
      this.effects.steps.push({
        op: "price.created",
        key: c.key,
        id: created.id,
        lookup_key: after.lookup_key!,
        transferred_from: before?.id ?? null,
      });
      this.effects.price_ids[after.lookup_key!] = created.id;
      if (before?.active) await this.archivePrice(c, before, "archive-old");
      return;
    }
    if (c.action === "archive") return await this.archivePrice(c, before!, "archive");
    // An update: `active` / `tier_slug` changed, or only the database link is missing.
    if (before!.active !== after.active || before!.tier_slug !== after.tier_slug) {
      await this.run(async () =>
        await this.stripe.prices.update(before!.id!, {
          active: after.active,
          metadata: { tier_slug: after.tier_slug },
        }, await this.key(c, "update"))
      );
      this.effects.steps.push({
        op: "price.updated",
        key: c.key,
        id: before!.id!,
        previous: { active: before!.active, tier_slug: before!.tier_slug ?? null },
      });
    }
    this.effects.price_ids[after.lookup_key!] = before!.id!;
  }

  async archivePrice(c: PlanChange, price: PriceRow, step: string): Promise<void> {
    await this.run(async () =>
      await this.stripe.prices.update(price.id!, { active: false }, await this.key(c, step))
    );
    this.effects.steps.push({
      op: "price.updated",
      key: c.key,
      id: price.id!,
      previous: { active: price.active, tier_slug: price.tier_slug },
    });
  }

  async endpoint(c: PlanChange): Promise<void> {
    const after = EndpointRow.parse(c.after);
    const enabled_events = after
      .enabled_events as Stripe.WebhookEndpointCreateParams.EnabledEvent[];
    if (c.action === "update") {
      const before = EndpointRow.parse(c.before);
      await this.run(async () =>
        await this.stripe.webhookEndpoints.update(
          before.id!,
          { enabled_events, disabled: false },
          await this.key(c, "update"),
        )
      );
      this.effects.steps.push({
        op: "endpoint.updated",
        key: c.key,
        id: before.id!,
        previous: { enabled_events: before.enabled_events, status: before.status },
      });
      this.effects.endpoint_id = before.id!;
      return;
    }
    // Create (or roll: create the new one first, so events always have somewhere to go).
    const created = await this.run(async () =>
      await this.stripe.webhookEndpoints.create({
        url: after.url,
        enabled_events,
        api_version: STRIPE_API_VERSION,
        description: "Stagecoach stripe-webhook",
      }, await this.key(c, "create"))
    );
    if (!created.secret) throw new Error(`Cannot read the signing secret of ${created.id}`);
    this.secrets.set(this.effects.promotion_id, created.secret);
    this.effects.steps.push({ op: "endpoint.created", key: c.key, id: created.id });
    this.effects.endpoint_id = created.id;
    if (c.action === "replace") {
      const old = EndpointRow.parse(c.before).id!;
      try {
        await this.run(async () => await this.stripe.webhookEndpoints.del(old));
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      this.effects.steps.push({ op: "endpoint.deleted", key: c.key, id: old });
    }
  }
}

/**
 * Undoes steps, last first. Each undo sets a state (archived, previous fields), so running it
 * twice is harmless; its POSTs carry keys of their own (`…:revert:<object>:<what>`).
 *
 * @returns one line per step that could not be undone
 */
async function undo(
  stripe: Stripe,
  run: Run,
  promotionId: string,
  steps: EffectStep[],
  secrets: Map<string, string>,
): Promise<string[]> {
  const problems: string[] = [];
  const key = async (id: string, what: string) => ({
    idempotencyKey: await idempotencyKey(promotionId, `revert:${id}`, what),
  });
  for (const step of [...steps].reverse()) {
    try {
      switch (step.op) {
        case "product.created":
          await run(async () =>
            await stripe.products.update(step.id, { active: false }, await key(step.id, "archive"))
          );
          break;
        case "product.updated":
          await run(async () =>
            await stripe.products.update(step.id, {
              name: step.previous.name,
              description: step.previous.description ?? "",
              active: step.previous.active,
            }, await key(step.id, "restore"))
          );
          break;
        case "price.created":
          if (step.transferred_from) {
            const from = step.transferred_from;
            await run(async () =>
              await stripe.prices.update(from, {
                lookup_key: step.lookup_key,
                transfer_lookup_key: true,
              }, await key(from, "take-lookup-key"))
            );
          }
          await run(async () =>
            await stripe.prices.update(step.id, { active: false }, await key(step.id, "archive"))
          );
          break;
        case "price.updated":
          await run(async () =>
            await stripe.prices.update(step.id, {
              active: step.previous.active,
              metadata: { tier_slug: step.previous.tier_slug ?? "" },
            }, await key(step.id, "restore"))
          );
          break;
        case "endpoint.created":
          secrets.delete(promotionId);
          try {
            await run(async () => await stripe.webhookEndpoints.del(step.id));
          } catch (err) {
            if (!isMissing(err)) throw err;
          }
          break;
        case "endpoint.updated":
          await run(async () =>
            await stripe.webhookEndpoints.update(step.id, {
              enabled_events: step.previous
                .enabled_events as Stripe.WebhookEndpointUpdateParams.EnabledEvent[],
              disabled: step.previous.status !== "enabled",
            }, await key(step.id, "restore"))
          );
          break;
        case "endpoint.deleted":
          // Its secret was lost (that is why it was replaced): nothing to bring back.
          break;
      }
    } catch (err) {
      problems.push(`Cannot undo ${step.op} ${step.id}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/**
 * Points `tier_prices.stripe_price_id` at the Stripe price of each lookup key, after taking
 * the before-image of every row it changes that the promotion's own writes did not image (so
 * a rollback restores the links too). An archived row (no lookup key) still holding one of
 * these prices lets go of it: a price is linked from one row only, and a reactivated price
 * belongs to the row that now has its lookup key (same tier: tiers never change in place).
 */
async function writeLinks(tx: Tx, promotionId: string, links: string): Promise<void> {
  const linked = (n: number) =>
    `jsonb_to_recordset($${n}::text::jsonb) as x(lookup_key text, id text)`;
  const touched = await tx.unsafe<{ id: string }[]>(
    `select t.id::text from ${linked(1)}
     join public.tier_prices as t
       on (t.lookup_key = x.lookup_key and t.stripe_price_id is distinct from x.id)
       or (t.lookup_key is null and t.stripe_price_id = x.id)
     order by t.id`,
    [links],
  );
  await imageById(tx, promotionId, {
    spec: kindSpec("tier_prices"),
    ids: [...new Set(touched.map((r) => r.id))],
  });
  await tx.unsafe(
    `update public.tier_prices as t set stripe_price_id = null from ${linked(1)}
     where t.lookup_key is null and t.stripe_price_id = x.id`,
    [links],
  );
  await tx.unsafe(
    `update public.tier_prices as t set stripe_price_id = x.id from ${linked(1)}
     where t.lookup_key = x.lookup_key and t.stripe_price_id is distinct from x.id`,
    [links],
  );
}

/**
 * The external system `stripe` of the promotion pipeline, for one environment's account.
 *
 * @param stripe a client of the target environment's account (`createStripeClient`)
 * @param opts.webhookUrl the target's `stripe-webhook` URL
 * @param opts.target the target database, as its owner
 * @example
 * ```ts
 * const stripe = stripeCatalogSystem(createStripeClient(parseStripeEnv(Deno.env.toObject())), {
 *   webhookUrl: `${env.SUPABASE_URL}/functions/v1/stripe-webhook`, target: sql });
 * const ctx: PromotionContext = { …, external: { stripe } };
 * ```
 */
export function stripeCatalogSystem(stripe: Stripe, opts: StripeCatalogOptions): ExternalSystem {
  const events = [...(opts.events ?? HANDLED_EVENT_TYPES)].sort();
  // One bucket for everything this account's sync sends (Stripe limits per account).
  const limiter = createRateLimiter({ perSecond: opts.requestsPerSecond ?? 25 });
  const run: Run = (call) => limiter.run(call);
  const webhook = { url: opts.webhookUrl, events };
  /** Signing secrets of endpoints created by an apply, by promotion id, until `record`. */
  const secrets = new Map<string, string>();

  /** The account's catalog and the target's links, read together. */
  const read = async (): Promise<SyncState> => {
    const [state, links, stored] = await Promise.all([
      readCatalogState(stripe, { run }),
      readLinks(opts.target),
      readStoredSecretEndpoint(opts.target),
    ]);
    return { state, links, stored };
  };

  return {
    scope: "stripe",
    kinds: STRIPE_CATALOG_KINDS,
    desired: ["tiers", "tier_prices"],
    read,

    async plan(desired, given) {
      const { state, links, stored } = (given as SyncState | undefined) ?? await read();
      return planCatalog({
        desired,
        state,
        links,
        webhook: {
          ...webhook,
          secretHeld: (id) => opts.functionsHoldSecret === true || stored === id,
        },
      });
    },

    async apply(promotionId, changes) {
      const applier = new Applier(stripe, run, promotionId, secrets);
      const ordered = changes
        .map((c, i) => ({ c, i }))
        .sort((a, b) => applyPhase(a.c) - applyPhase(b.c) || a.i - b.i);
      try {
        for (const { c } of ordered) await applier.change(c);
      } catch (err) {
        const problems = await undo(stripe, run, promotionId, applier.effects.steps, secrets);
        throw new Error(
          [
            `Cannot apply the Stripe catalog changes: ${(err as Error).message}`,
            ...(problems.length ? problems : ["what was done is undone"]),
          ].join("; "),
        );
      }
      return JSON.parse(JSON.stringify(applier.effects)) as EffectsRecord;
    },

    async record(tx, effects) {
      const e = parseEffects(effects);
      const links = Object.entries(e.price_ids).map(([lookup_key, id]) => ({ lookup_key, id }));
      if (links.length) await writeLinks(tx, e.promotion_id, JSON.stringify(links));
      const created = e.steps.find((s) => s.op === "endpoint.created");
      if (!created) return;
      const secret = secrets.get(e.promotion_id);
      if (!secret) {
        throw new Error(
          `Cannot store the signing secret of ${created.id}: this process no longer holds it`,
        );
      }
      // Provenance: the webhook trusts this secret because the apply path recorded it.
      await tx`select ops.record_endpoint_secret(${e.promotion_id}, ${created.id}, ${secret})`;
      // The entry's before-image (or a "created" marker): a rollback restores it too.
      await imageById(tx, e.promotion_id, { spec: kindSpec("config"), ids: [WEBHOOK_SECRET_KEY] });
      await tx`select ops.set_config_secret(${WEBHOOK_SECRET_KEY}, ${secret}, ${
        secretDescription(created.id)
      })`;
      // Each environment has its own endpoint: a config promotion must never carry it over.
      await tx`
        update public.app_config set env_specific = true
        where key = ${WEBHOOK_SECRET_KEY} and not env_specific`;
      secrets.delete(e.promotion_id);
    },

    async revert(promotionId, effects) {
      const problems = await undo(stripe, run, promotionId, parseEffects(effects).steps, secrets);
      if (problems.length) throw new Error(problems.join("; "));
    },

    async checks(target: postgres.Sql, given) {
      const rows = await target<CheckedTierPrice[]>`
        select p.lookup_key, p.currency::text as currency, p.unit_amount::text as unit_amount,
               p.billing_interval, p.interval_count, p.stripe_price_id
        from public.tier_prices as p
        join public.membership_tiers as t on t.id = p.tier_id
        where p.active and t.active and p.lookup_key is not null
        order by p.lookup_key`;
      const state = (given as SyncState | undefined)?.state ??
        await readCatalogState(stripe, { run });
      return catalogChecks(rows, state, webhook);
    },
  };
}

/**
 * Builds the `stripe` external system of an Edge Function from its secrets, or undefined when
 * it has no `STRIPE_SECRET_KEY`. The endpoint URL is the function's own project:
 * `<SUPABASE_URL>/functions/v1/stripe-webhook`.
 *
 * @param vars the function's environment (`Deno.env.toObject()`)
 * @returns a factory taking the target database, as `OpsDeps.stripeCatalog` wants it
 * @throws {Error} when the Stripe settings are present but invalid (never echoing them)
 */
export function stripeCatalogFromEnv(
  vars: Record<string, string | undefined>,
  supabaseUrl: string,
): ((target: Sql) => ExternalSystem) | undefined {
  if (!vars.STRIPE_SECRET_KEY) return undefined;
  const settings = parseStripeEnv(vars);
  const stripe = createStripeClient(settings);
  return (target) =>
    stripeCatalogSystem(stripe, {
      webhookUrl: `${supabaseUrl.replace(/\/+$/, "")}/functions/v1/stripe-webhook`,
      target,
      functionsHoldSecret: settings.STRIPE_WEBHOOK_SECRET !== undefined,
    });
}
