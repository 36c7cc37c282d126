/**
 * Catalog sync, the pure part: what a target Stripe account must change so that its products,
 * prices and webhook endpoint match the tiers and tier prices its database will hold, and
 * whether it does (validation). Values in, values out; `catalog_sync.ts` does the I/O.
 *
 * Matching never uses ids, which differ per account: a tier's product carries
 * `metadata.tier_slug`, a tier price is the Stripe price with its `lookup_key`, the endpoint
 * is the one whose URL is the environment's `stripe-webhook`.
 *
 * Rules:
 * - a tier without a product gets one (an inactive tier only when one of its prices needs it);
 *   name, description and `active` follow the tier; a product whose tier is gone is archived;
 * - a price missing from the account is created (an inactive one is not: nobody can buy it);
 *   `active` and `metadata.tier_slug` follow; a changed amount, currency, interval or tier
 *   *replaces* it — prices are immutable — with a new price that takes the lookup key
 *   (`transfer_lookup_key`) while the old one is archived; an active price of ours (with
 *   `metadata.tier_slug`) whose lookup key is no longer a tier price is archived;
 * - a price that needs no change but that `tier_prices.stripe_price_id` does not point at is
 *   linked (an `update` whose only effect is that database column);
 * - the endpoint is created when missing, updated when its events or status differ, and
 *   replaced (rolled) when Stagecoach holds no signing secret for it (Stripe shows a secret
 *   only when it creates the endpoint) or when its API version is not `STRIPE_API_VERSION`
 *   (Stripe cannot change an endpoint's version).
 *
 * @module
 */
import { z } from "zod";
import { canonicalJson, JsonNumber, type JsonObject, sha256Hex } from "../json/lossless.ts";
import type { ExternalKindName } from "../promotion/external.ts";
import type { PlanChange, Row, RowsByKind } from "../promotion/plan.ts";
import type { CheckResult } from "../validation/checks.ts";
import { STRIPE_API_VERSION } from "./client.ts";

/** The plan change kinds catalog sync owns. */
export const STRIPE_CATALOG_KINDS: readonly ExternalKindName[] = [
  "stripe_products",
  "stripe_prices",
  "stripe_webhook_endpoints",
];

/** The config entry holding the endpoint's signing secret (encrypted, environment-specific). */
export const WEBHOOK_SECRET_KEY = "stripe.webhook_secret";

/** A product of the account, as the planner reads it. */
export interface CatalogProduct {
  id: string;
  name: string;
  description: string | null;
  active: boolean;
  metadata: Record<string, string>;
  created: number;
}

/** A price of the account, as the planner reads it. */
export interface CatalogPrice {
  id: string;
  product: string;
  active: boolean;
  currency: string;
  unit_amount: number | null;
  interval: string | null;
  interval_count: number | null;
  lookup_key: string | null;
  metadata: Record<string, string>;
  created: number;
}

/** A webhook endpoint of the account (never its secret). */
export interface CatalogEndpoint {
  id: string;
  url: string;
  enabled_events: string[];
  status: string;
  /** The API version its events are rendered in (null: the account's default). */
  api_version: string | null;
  created: number;
}

/** Everything the planner and the checks read from the account. */
export interface CatalogState {
  products: CatalogProduct[];
  prices: CatalogPrice[];
  endpoints: CatalogEndpoint[];
}

/** The endpoint the environment needs. */
export interface WebhookTarget {
  /** The environment's `stripe-webhook` URL. */
  url: string;
  /** The event types it must receive. */
  events: readonly string[];
  /** Whether the environment holds the signing secret of this endpoint. */
  secretHeld(endpointId: string): boolean;
}

/** What {@link planCatalog} reads. */
export interface CatalogPlanInput {
  /** The tiers and tier prices the target database will hold (logical rows, kinds.ts). */
  desired: RowsByKind;
  state: CatalogState;
  /** `tier_prices.stripe_price_id` of the target now, by lookup key. */
  links: Record<string, string | null>;
  webhook: WebhookTarget;
}

/** A tier as the planner needs it. */
const TierRow = z.object({
  slug: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  active: z.boolean(),
});

const amount = z.union([z.instanceof(JsonNumber), z.number()]).transform((n) => Number(String(n)));

/** A tier price as the planner needs it. */
const TierPriceRow = z.object({
  tier: z.string(),
  lookup_key: z.string(),
  currency: z.string(),
  unit_amount: amount,
  billing_interval: z.string(),
  interval_count: amount,
  active: z.boolean(),
});

/** The logical row of a product change. */
export const ProductRow = z.object({
  id: z.string().optional(),
  tier_slug: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  active: z.boolean(),
});
/** A product change's row, parsed. */
export type ProductRow = z.infer<typeof ProductRow>;

/** The logical row of a price change (`stripe_price_id`: the database link, in link changes). */
export const PriceRow = z.object({
  id: z.string().optional(),
  product: z.string().nullable(),
  tier_slug: z.string(),
  lookup_key: z.string().nullable(),
  currency: z.string(),
  unit_amount: amount,
  interval: z.string().nullable(),
  interval_count: amount,
  active: z.boolean(),
  stripe_price_id: z.string().nullable().optional(),
});
/** A price change's row, parsed. */
export type PriceRow = z.infer<typeof PriceRow>;

/** The logical row of an endpoint change. */
export const EndpointRow = z.object({
  id: z.string().optional(),
  url: z.string(),
  enabled_events: z.array(z.string()),
  status: z.string(),
  api_version: z.string().nullable().optional(),
});
/** An endpoint change's row, parsed. */
export type EndpointRow = z.infer<typeof EndpointRow>;

function normalDescription(d: string | null | undefined): string | null {
  return d ? d : null;
}

/** The product of a tier: an active one first, then the oldest (ids break ties). */
function productsBySlug(products: CatalogProduct[]): Map<string, CatalogProduct> {
  const out = new Map<string, CatalogProduct>();
  const ranked = [...products].sort((a, b) =>
    Number(b.active) - Number(a.active) || a.created - b.created || a.id.localeCompare(b.id)
  );
  for (const p of ranked) {
    const slug = p.metadata.tier_slug;
    if (slug && !out.has(slug)) out.set(slug, p);
  }
  return out;
}

function productRow(p: CatalogProduct): Row {
  return {
    id: p.id,
    tier_slug: p.metadata.tier_slug,
    name: p.name,
    description: normalDescription(p.description),
    active: p.active,
  };
}

function priceRow(p: CatalogPrice): Row {
  return {
    id: p.id,
    product: p.product,
    tier_slug: p.metadata.tier_slug ?? null,
    lookup_key: p.lookup_key,
    currency: p.currency,
    unit_amount: p.unit_amount === null ? null : new JsonNumber(String(p.unit_amount)),
    interval: p.interval,
    interval_count: p.interval_count === null ? null : new JsonNumber(String(p.interval_count)),
    active: p.active,
  };
}

function endpointRow(e: CatalogEndpoint): Row {
  return {
    id: e.id,
    url: e.url,
    enabled_events: [...e.enabled_events].sort(),
    status: e.status,
    api_version: e.api_version,
  };
}

function differing(a: Row, b: Row, fields: string[]): string[] {
  return fields.filter((f) => canonicalJson(a[f] ?? null) !== canonicalJson(b[f] ?? null));
}

function change(
  kind: ExternalKindName,
  key: string,
  action: PlanChange["action"],
  risk: PlanChange["risk"],
  reasons: string[],
  before: Row | null,
  after: Row | null,
): PlanChange {
  return { kind, key, action, risk, reasons, before, after };
}

/**
 * Plans the catalog changes of a target account.
 *
 * @returns changes, products first, then prices, then the endpoint (each sorted by key);
 *   empty when the account already matches
 * @throws {z.ZodError} when a desired row lacks a field the planner needs
 * @example
 * ```ts
 * const changes = planCatalog({ desired, state, links: {}, webhook: { url, events,
 *   secretHeld: () => true } });
 * ```
 */
export function planCatalog(input: CatalogPlanInput): PlanChange[] {
  const tiers = (input.desired.tiers ?? []).map((r) => TierRow.parse(r));
  const prices = (input.desired.tier_prices ?? []).map((r) => TierPriceRow.parse(r));
  const products = productsBySlug(input.state.products);
  const byLookupKey = new Map(
    input.state.prices.filter((p) => p.lookup_key).map((p) => [p.lookup_key!, p]),
  );
  const productChanges: PlanChange[] = [];
  const priceChanges: PlanChange[] = [];
  const archives: PlanChange[] = [];
  const needsProduct = new Set<string>();

  for (const want of [...prices].sort((a, b) => a.lookup_key.localeCompare(b.lookup_key))) {
    const key = `price:${want.lookup_key}`;
    const productId = products.get(want.tier)?.id ?? null;
    const after: Row = {
      product: productId,
      tier_slug: want.tier,
      lookup_key: want.lookup_key,
      currency: want.currency,
      unit_amount: new JsonNumber(String(want.unit_amount)),
      interval: want.billing_interval,
      interval_count: new JsonNumber(String(want.interval_count)),
      active: want.active,
    };
    const have = byLookupKey.get(want.lookup_key);
    if (!have) {
      if (!want.active) continue;
      if (!productId) needsProduct.add(want.tier);
      priceChanges.push(
        change(
          "stripe_prices",
          key,
          "create",
          "low",
          [
            `no price with lookup key ${want.lookup_key} in this account`,
          ],
          null,
          after,
        ),
      );
      continue;
    }
    const before = priceRow(have);
    const immutable = differing(before, after, [
      "product",
      "currency",
      "unit_amount",
      "interval",
      "interval_count",
    ]);
    if (immutable.length) {
      if (!productId) needsProduct.add(want.tier);
      priceChanges.push(
        change(
          "stripe_prices",
          key,
          "replace",
          "high",
          [
            `changes ${immutable.join(", ")}`,
            "prices are immutable: a new price takes the lookup key and the old one is archived",
          ],
          before,
          after,
        ),
      );
      continue;
    }
    const mutable = differing(before, after, ["active", "tier_slug"]);
    if (mutable.length) {
      priceChanges.push(
        change("stripe_prices", key, "update", "high", [`changes ${mutable.join(", ")}`], before, {
          ...after,
          id: have.id,
        }),
      );
      continue;
    }
    const linked = input.links[want.lookup_key] ?? null;
    if (linked !== have.id) {
      priceChanges.push(
        change(
          "stripe_prices",
          key,
          "update",
          "low",
          [`links tier_prices.stripe_price_id to ${have.id}`],
          { ...before, stripe_price_id: linked },
          { ...before, stripe_price_id: have.id },
        ),
      );
    }
  }

  const wanted = new Set(prices.map((p) => p.lookup_key));
  const stale = input.state.prices
    .filter((p) => p.active && p.metadata.tier_slug && !(p.lookup_key && wanted.has(p.lookup_key)))
    .map((p) => ({ p, key: `price:${p.lookup_key ?? p.id}` }))
    .sort((a, b) => a.key.localeCompare(b.key));
  for (const { p, key } of stale) {
    archives.push(
      change(
        "stripe_prices",
        key,
        "archive",
        "high",
        [
          p.lookup_key
            ? `lookup key ${p.lookup_key} is no longer a tier price: archived`
            : `a price of tier ${p.metadata.tier_slug} without a lookup key: archived`,
        ],
        priceRow(p),
        { ...priceRow(p), active: false },
      ),
    );
  }

  for (const tier of [...tiers].sort((a, b) => a.slug.localeCompare(b.slug))) {
    const key = `product:${tier.slug}`;
    const after: Row = {
      tier_slug: tier.slug,
      name: tier.name,
      description: normalDescription(tier.description),
      active: tier.active,
    };
    const have = products.get(tier.slug);
    if (!have) {
      if (tier.active || needsProduct.has(tier.slug)) {
        productChanges.push(
          change(
            "stripe_products",
            key,
            "create",
            "low",
            [
              `tier ${tier.slug} has no product in this account`,
            ],
            null,
            after,
          ),
        );
      }
      continue;
    }
    const before = productRow(have);
    const changed = differing(before, after, ["name", "description", "active"]);
    if (changed.length) {
      productChanges.push(
        change("stripe_products", key, "update", "low", [`changes ${changed.join(", ")}`], before, {
          ...after,
          id: have.id,
        }),
      );
    }
  }
  const slugs = new Set(tiers.map((t) => t.slug));
  for (const [slug, p] of [...products].sort(([a], [b]) => a.localeCompare(b))) {
    if (slugs.has(slug) || !p.active) continue;
    archives.push(
      change(
        "stripe_products",
        `product:${slug}`,
        "archive",
        "high",
        [
          `tier ${slug} is gone: its product is archived`,
        ],
        productRow(p),
        { ...productRow(p), active: false },
      ),
    );
  }

  return [...productChanges, ...priceChanges, ...archives, ...planEndpoint(input)];
}

/** The endpoint change, if any. */
function planEndpoint(input: CatalogPlanInput): PlanChange[] {
  const { url } = input.webhook;
  const events = [...input.webhook.events].sort();
  const after: Row = {
    url,
    enabled_events: events,
    status: "enabled",
    api_version: STRIPE_API_VERSION,
  };
  const have = input.state.endpoints
    .filter((e) => e.url === url)
    .sort((a, b) =>
      Number(b.status === "enabled") - Number(a.status === "enabled") ||
      a.created - b.created || a.id.localeCompare(b.id)
    )[0];
  if (!have) {
    return [
      change(
        "stripe_webhook_endpoints",
        "endpoint",
        "create",
        "low",
        [
          `no webhook endpoint for ${url}`,
          "its signing secret is stored encrypted as the config entry stripe.webhook_secret",
        ],
        null,
        after,
      ),
    ];
  }
  const before = endpointRow(have);
  const unpinned = have.api_version !== STRIPE_API_VERSION;
  if (!input.webhook.secretHeld(have.id) || unpinned) {
    return [
      change(
        "stripe_webhook_endpoints",
        "endpoint",
        "replace",
        "high",
        unpinned
          ? [
            `${have.id} renders events in API version ${
              have.api_version ?? "of the account's default"
            }, not ${STRIPE_API_VERSION}: a new endpoint replaces it`,
            "Stripe cannot change an endpoint's API version",
          ]
          : [
            `Stagecoach holds no signing secret for ${have.id}: a new endpoint replaces it`,
            "Stripe shows a signing secret only when it creates the endpoint",
          ],
        before,
        after,
      ),
    ];
  }
  const changed = differing(before, after, ["enabled_events", "status"]);
  if (!changed.length) return [];
  return [
    change(
      "stripe_webhook_endpoints",
      "endpoint",
      "update",
      "low",
      [
        `changes ${changed.join(", ")}`,
      ],
      before,
      { ...after, id: have.id },
    ),
  ];
}

/** The order in which apply makes a change: products, prices, archivals, the endpoint. */
export function applyPhase(c: Pick<PlanChange, "kind" | "action">): number {
  if (c.kind === "stripe_products") return c.action === "archive" ? 3 : 0;
  if (c.kind === "stripe_prices") return c.action === "archive" ? 2 : 1;
  return 4;
}

/**
 * The idempotency key of one Stripe POST of a promotion: the same promotion, change and step
 * give the same key, so a retried or re-run apply never duplicates. Stripe allows 255
 * characters; longer keys are shortened to a hash of the change key.
 *
 * @example
 * ```ts
 * await idempotencyKey("9f3…", "price:pro_monthly", "create");
 * // "stagecoach:9f3…:price:pro_monthly:create"
 * ```
 */
export async function idempotencyKey(
  promotionId: string,
  changeKey: string,
  step: string,
): Promise<string> {
  const key = `stagecoach:${promotionId}:${changeKey}:${step}`;
  if (key.length <= 255) return key;
  return `stagecoach:${promotionId}:sha256-${await sha256Hex(changeKey)}:${step}`;
}

/** The description a stored signing secret carries: it names its endpoint. */
export function secretDescription(endpointId: string): string {
  return `Stripe webhook signing secret of ${endpointId}`;
}

/** The endpoint a stored secret's description names, or null. */
export function endpointOfSecret(description: string | null): string | null {
  return description?.match(/\b(we_[A-Za-z0-9]+)\b/)?.[1] ?? null;
}

/** One thing apply did, with what its undo needs. */
export const EffectStep = z.discriminatedUnion("op", [
  z.object({ op: z.literal("product.created"), key: z.string(), id: z.string() }),
  z.object({
    op: z.literal("product.updated"),
    key: z.string(),
    id: z.string(),
    previous: z.object({
      name: z.string(),
      description: z.string().nullable(),
      active: z.boolean(),
    }),
  }),
  z.object({
    op: z.literal("price.created"),
    key: z.string(),
    id: z.string(),
    lookup_key: z.string(),
    /** The price the lookup key was moved from (a replacement), else null. */
    transferred_from: z.string().nullable(),
  }),
  z.object({
    op: z.literal("price.updated"),
    key: z.string(),
    id: z.string(),
    previous: z.object({ active: z.boolean(), tier_slug: z.string().nullable() }),
  }),
  z.object({ op: z.literal("endpoint.created"), key: z.string(), id: z.string() }),
  z.object({
    op: z.literal("endpoint.updated"),
    key: z.string(),
    id: z.string(),
    previous: z.object({ enabled_events: z.array(z.string()), status: z.string() }),
  }),
  /** An endpoint replaced because its secret was lost: cannot be undone. */
  z.object({ op: z.literal("endpoint.deleted"), key: z.string(), id: z.string() }),
]);
/** One step of {@link CatalogEffects}. */
export type EffectStep = z.infer<typeof EffectStep>;

/**
 * What an apply did (kept in `ops.promotion_effects`): its steps in order, the Stripe price of
 * each lookup key it touched or linked, the product of each tier it touched, the endpoint.
 * Never a signing secret.
 */
export const CatalogEffects = z.object({
  promotion_id: z.string(),
  steps: z.array(EffectStep),
  price_ids: z.record(z.string(), z.string()),
  product_ids: z.record(z.string(), z.string()),
  endpoint_id: z.string().nullable(),
});
/** A parsed effects record. */
export type CatalogEffects = z.infer<typeof CatalogEffects>;

/**
 * Reads an effects record.
 *
 * @throws {Error} "Cannot read the Stripe effects …" naming what is wrong
 */
export function parseEffects(effects: JsonObject): CatalogEffects {
  const parsed = CatalogEffects.safeParse(JSON.parse(canonicalJson(effects)));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Cannot read the Stripe effects record: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/** An active tier price of an active tier, as the checks read it. */
export interface CheckedTierPrice {
  lookup_key: string;
  currency: string;
  unit_amount: string | number;
  billing_interval: string;
  interval_count: number;
  stripe_price_id: string | null;
}

/**
 * The catalog checks after an apply (and in `validate`): `stripe_prices` — every active tier
 * price of an active tier has an active Stripe price with its lookup key, amount, currency
 * and interval, and `stripe_price_id` points at it; `stripe_webhook_endpoint` — an enabled
 * endpoint for the environment's URL receives every handled event type.
 */
export function catalogChecks(
  rows: CheckedTierPrice[],
  state: CatalogState,
  webhook: Pick<WebhookTarget, "url" | "events">,
): CheckResult[] {
  const byLookupKey = new Map(
    state.prices.filter((p) => p.lookup_key).map((p) => [p.lookup_key!, p]),
  );
  const offending: JsonObject[] = [];
  for (const row of rows) {
    const p = byLookupKey.get(row.lookup_key);
    const problem = !p
      ? "no Stripe price has this lookup key"
      : !p.active
      ? `${p.id} is archived`
      : p.currency !== row.currency || String(p.unit_amount) !== String(row.unit_amount) ||
          p.interval !== row.billing_interval || p.interval_count !== Number(row.interval_count)
      ? `${p.id} charges ${p.unit_amount} ${p.currency} every ${p.interval_count} ${p.interval}`
      : row.stripe_price_id !== p.id
      ? `stripe_price_id is ${row.stripe_price_id ?? "null"}, not ${p.id}`
      : null;
    if (problem) offending.push({ lookup_key: row.lookup_key, problem });
  }
  const endpoint = state.endpoints.find((e) => e.url === webhook.url && e.status === "enabled");
  const missing = endpoint
    ? webhook.events.filter((t) =>
      !endpoint.enabled_events.includes(t) && !endpoint.enabled_events.includes("*")
    )
    : [...webhook.events];
  return [
    {
      name: "stripe_prices",
      passed: offending.length === 0,
      details: { checked: new JsonNumber(String(rows.length)), offending: offending.slice(0, 20) },
    },
    {
      name: "stripe_webhook_endpoint",
      passed: !!endpoint && missing.length === 0,
      details: endpoint
        ? { endpoint_id: endpoint.id, url: webhook.url, missing_events: missing }
        : { endpoint_id: null, url: webhook.url, problem: "no enabled endpoint for this URL" },
    },
  ];
}
