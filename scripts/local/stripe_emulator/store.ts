/**
 * The emulator's state: one account per secret key, each with its own objects, events,
 * webhook endpoints (and their secrets), idempotency records and delivery settings — so
 * environments never see each other's data, as with separate Stripe accounts.
 *
 * Objects are kept as Stripe sends them (see `objects.ts`); a deleted customer, product or
 * webhook endpoint stays as Stripe's `{ id, object, deleted: true }` stub. The whole state
 * serialises to JSON so the emulator keeps its data across a stack restart.
 *
 * @module
 */
import { noSuch, StripeApiError } from "./errors.ts";

/** The kinds of objects the emulator stores, by Stripe's `object` name. */
export const KINDS = [
  "product",
  "price",
  "customer",
  "subscription",
  "invoice",
  "checkout.session",
  "webhook_endpoint",
  "event",
] as const;

/** One of {@link KINDS}. */
export type Kind = typeof KINDS[number];

/** Id prefixes, as Stripe uses them. */
export const ID_PREFIX: Record<Kind | "subscription_item", string> = {
  product: "prod",
  price: "price",
  customer: "cus",
  subscription: "sub",
  subscription_item: "si",
  invoice: "in",
  "checkout.session": "cs_test",
  webhook_endpoint: "we",
  event: "evt",
};

/** A stored object: what Stripe would send for it. */
export type StoredObject = Record<string, unknown> & { id: string; object: string };

/** A recorded answer to an idempotent request. */
export interface IdempotencyRecord {
  fingerprint: string;
  status: number;
  body: unknown;
  created: number;
}

/** How the account's events reach its webhook endpoints (tests switch this). */
export type DeliveryMode = "immediate" | "hold" | "drop";

/** One account (one secret key). */
export interface Account {
  id: string;
  /** Which environment it serves, e.g. `development`. */
  label: string;
  secretKey: string;
  objects: Record<Kind, Map<string, StoredObject>>;
  /** Webhook endpoint id → signing secret (Stripe shows it only at creation). */
  endpointSecrets: Map<string, string>;
  /** Customers whose payments the emulator declines (set by a test helper). */
  decliningCustomers: Set<string>;
  idempotency: Map<string, IdempotencyRecord>;
  deliveryMode: DeliveryMode;
  /** Requests still to answer with 429 (set by a test helper). */
  forcedRateLimits: number;
  /** Invoice number sequence. */
  invoiceSequence: number;
  /** What completing each open checkout session needs (Stripe keeps it off the object). */
  checkoutData: Map<string, CheckoutData>;
}

/** The line items and subscription data of an open checkout session. */
export interface CheckoutData {
  line_items: { price: string; quantity?: number }[];
  subscription_metadata?: Record<string, string> | null;
}

/** The accounts the emulator accepts, as the stack writes them. */
export interface AccountSpec {
  id: string;
  label: string;
  secret_key: string;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * A new id with Stripe's prefix: `prod_` + 14 random base62 characters.
 *
 * @example
 * ```ts
 * newId("prod"); // "prod_Qx3k9TnB2mLp0a"
 * ```
 */
export function newId(prefix: string, length = 14): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return `${prefix}_${Array.from(bytes, (b) => BASE62[b % 62]).join("")}`;
}

/** Creates an empty account. */
export function createAccount(spec: AccountSpec): Account {
  return {
    id: spec.id,
    label: spec.label,
    secretKey: spec.secret_key,
    objects: Object.fromEntries(KINDS.map((k) => [k, new Map()])) as Account["objects"],
    endpointSecrets: new Map(),
    decliningCustomers: new Set(),
    idempotency: new Map(),
    deliveryMode: "immediate",
    forcedRateLimits: 0,
    invoiceSequence: 0,
    checkoutData: new Map(),
  };
}

/** Human names of each kind in "No such …" errors. */
const NOUN: Record<Kind, string> = {
  product: "product",
  price: "price",
  customer: "customer",
  subscription: "subscription",
  invoice: "invoice",
  "checkout.session": "checkout.session",
  webhook_endpoint: "webhook endpoint",
  event: "event",
};

/** Which object to read, and the request parameter that named it (for the 404), default `id`. */
export interface ObjectRef {
  kind: Kind;
  id: string;
  param?: string;
}

/**
 * Reads an object, deleted stubs included.
 *
 * @throws {StripeApiError} 404 `resource_missing`
 * @example
 * ```ts
 * const session = getObject(ctx.account, { kind: "checkout.session", id: ctx.path.id });
 * ```
 */
export function getObject<T extends StoredObject = StoredObject>(
  account: Account,
  ref: ObjectRef,
): T {
  const { kind, id, param = "id" } = ref;
  const found = account.objects[kind].get(id);
  if (!found) throw noSuch(NOUN[kind], id, param);
  return found as T;
}

/**
 * Reads an object that must not be deleted.
 *
 * @throws {StripeApiError} 404 `resource_missing` when absent or deleted
 * @example
 * ```ts
 * const price = getLive(ctx.account, { kind: "price", id: p.price, param: "price" });
 * ```
 */
export function getLive<T extends StoredObject = StoredObject>(
  account: Account,
  ref: ObjectRef,
): T {
  const found = getObject<T>(account, ref);
  if (found.deleted === true) throw noSuch(NOUN[ref.kind], ref.id, ref.param ?? "id");
  return found;
}

/** Stores (creates or replaces) an object; a new id goes to the end of the creation order. */
export function putObject(account: Account, kind: Kind, object: StoredObject): void {
  account.objects[kind].set(object.id, object);
}

/** The page of a list and whether more follow, as Stripe pages lists. */
export interface Page<T> {
  data: T[];
  has_more: boolean;
}

/**
 * Pages objects newest first, as every Stripe list does: `limit` (default 10),
 * `starting_after` (the page after that id) and `ending_before` (the page before it).
 *
 * @param items every matching object, oldest first
 * @throws {StripeApiError} 404 when a cursor id is not in the list's objects
 */
export function paginate<T extends { id: string }>(
  items: T[],
  opts: { limit?: number; starting_after?: string; ending_before?: string },
): Page<T> {
  if (opts.starting_after && opts.ending_before) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "You may only specify one of these parameters: ending_before, starting_after.",
      { code: "parameter_invalid", param: "ending_before" },
    );
  }
  const limit = opts.limit ?? 10;
  const newestFirst = [...items].reverse();
  const cursor = opts.starting_after ?? opts.ending_before;
  if (cursor === undefined) {
    return { data: newestFirst.slice(0, limit), has_more: newestFirst.length > limit };
  }
  const at = newestFirst.findIndex((o) => o.id === cursor);
  if (at === -1) {
    throw new StripeApiError(
      404,
      "invalid_request_error",
      `No such object: '${cursor}'`,
      {
        code: "resource_missing",
        param: opts.starting_after ? "starting_after" : "ending_before",
      },
    );
  }
  if (opts.starting_after) {
    const rest = newestFirst.slice(at + 1);
    return { data: rest.slice(0, limit), has_more: rest.length > limit };
  }
  const before = newestFirst.slice(0, at);
  return {
    data: before.slice(Math.max(0, before.length - limit)),
    has_more: before.length > limit,
  };
}

/** The serialised state of every account (`state.json`). */
export interface Snapshot {
  version: 1;
  accounts: {
    id: string;
    label: string;
    secret_key: string;
    objects: Record<string, StoredObject[]>;
    endpoint_secrets: [string, string][];
    declining_customers: string[];
    invoice_sequence: number;
    checkout_data: [string, CheckoutData][];
  }[];
}

/** Serialises accounts (idempotency records and delivery settings are not kept). */
export function snapshot(accounts: Iterable<Account>): Snapshot {
  return {
    version: 1,
    accounts: [...accounts].map((a) => ({
      id: a.id,
      label: a.label,
      secret_key: a.secretKey,
      objects: Object.fromEntries(KINDS.map((k) => [k, [...a.objects[k].values()]])),
      endpoint_secrets: [...a.endpointSecrets],
      declining_customers: [...a.decliningCustomers],
      invoice_sequence: a.invoiceSequence,
      checkout_data: [...a.checkoutData],
    })),
  };
}

/**
 * Rebuilds accounts from the specs the stack wrote and a snapshot (if any): an account whose
 * secret key is no longer listed is dropped; a new one starts empty.
 */
export function restore(specs: AccountSpec[], saved: Snapshot | null): Map<string, Account> {
  const byKey = new Map<string, Account>();
  for (const spec of specs) {
    const account = createAccount(spec);
    const old = saved?.accounts.find((a) => a.secret_key === spec.secret_key && a.id === spec.id);
    if (old) {
      for (const kind of KINDS) {
        for (const o of old.objects[kind] ?? []) account.objects[kind].set(o.id, o);
      }
      account.endpointSecrets = new Map(old.endpoint_secrets);
      account.decliningCustomers = new Set(old.declining_customers);
      account.invoiceSequence = old.invoice_sequence;
      account.checkoutData = new Map(old.checkout_data ?? []);
    }
    byKey.set(spec.secret_key, account);
  }
  return byKey;
}
