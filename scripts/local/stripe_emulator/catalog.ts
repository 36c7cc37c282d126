/**
 * Products and prices: create, retrieve, update, list (and delete a product), with Stripe's
 * rules — prices are immutable except `active`, `nickname`, `metadata` and `lookup_key`; a
 * lookup key is unique per account unless `transfer_lookup_key` moves it; a product with
 * prices cannot be deleted.
 *
 * @module
 */
import { z } from "zod";
import {
  type Answer,
  type Ctx,
  expand,
  type Handler,
  previousAttributes,
  retrieveHandler,
} from "./context.ts";
import { StripeApiError } from "./errors.ts";
import { apiList, deletedObject, priceObject, productObject } from "./objects.ts";
import {
  boolParam,
  expandParam,
  intParam,
  listParams,
  mergeMetadata,
  metadataParam,
  nullableStr,
  parseParams,
  strParam,
} from "./params.ts";
import {
  type Account,
  getLive,
  ID_PREFIX,
  newId,
  paginate,
  putObject,
  type StoredObject,
} from "./store.ts";

const recurringParam = z.strictObject({
  interval: z.enum(["day", "week", "month", "year"]),
  interval_count: intParam.pipe(z.number().int().min(1).max(36)).optional(),
});
const currencyParam = z.string().regex(/^[a-zA-Z]{3}$/, "Invalid currency").transform((c) =>
  c.toLowerCase()
);
const amountParam = intParam.pipe(z.number().int().min(0).max(99_999_999));
const lookupKeyParam = z.string().min(1).max(200);

const ProductCreate = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,240}$/).optional(),
  name: strParam.max(250),
  active: boolParam.optional(),
  description: nullableStr.optional(),
  metadata: metadataParam.optional(),
  default_price_data: z.strictObject({
    currency: currencyParam,
    unit_amount: amountParam,
    recurring: recurringParam.optional(),
  }).optional(),
  expand: expandParam.optional(),
});

const ProductUpdate = z.strictObject({
  name: strParam.max(250).optional(),
  active: boolParam.optional(),
  description: nullableStr.optional(),
  metadata: metadataParam.optional(),
  default_price: strParam.optional(),
  expand: expandParam.optional(),
});

const ProductList = z.strictObject({
  ...listParams,
  active: boolParam.optional(),
  ids: z.array(strParam).optional(),
});

const PriceCreate = z.strictObject({
  currency: currencyParam,
  unit_amount: amountParam,
  product: strParam.optional(),
  product_data: z.strictObject({
    name: strParam.max(250),
    metadata: metadataParam.optional(),
  }).optional(),
  recurring: recurringParam.optional(),
  active: boolParam.optional(),
  nickname: nullableStr.optional(),
  lookup_key: lookupKeyParam.optional(),
  transfer_lookup_key: boolParam.optional(),
  metadata: metadataParam.optional(),
  expand: expandParam.optional(),
});

const PriceUpdate = z.strictObject({
  active: boolParam.optional(),
  nickname: nullableStr.optional(),
  metadata: metadataParam.optional(),
  lookup_key: z.string().max(200).optional(),
  transfer_lookup_key: boolParam.optional(),
  expand: expandParam.optional(),
});

const PriceList = z.strictObject({
  ...listParams,
  active: boolParam.optional(),
  product: strParam.optional(),
  currency: currencyParam.optional(),
  type: z.enum(["one_time", "recurring"]).optional(),
  lookup_keys: z.array(lookupKeyParam).max(10).optional(),
});

function touchProduct(product: StoredObject, now: number, changes: Record<string, unknown>) {
  return { ...product, ...changes, updated: now } as StoredObject;
}

/**
 * Frees or claims a lookup key for `priceId`: refuses when another price holds it, unless
 * `transfer` is set, in which case the other price loses it (and a `price.updated` is sent).
 */
function claimLookupKey(
  ctx: Ctx,
  lookupKey: string,
  priceId: string | null,
  transfer: boolean,
): void {
  const holder = [...ctx.account.objects.price.values()].find((p) =>
    p.lookup_key === lookupKey && p.id !== priceId
  );
  if (!holder) return;
  if (!transfer) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `A price (\`${holder.id}\`) already uses that lookup key.`,
      { code: "lookup_key_already_exists", param: "lookup_key" },
    );
  }
  const updated = { ...holder, lookup_key: null };
  putObject(ctx.account, "price", updated);
  ctx.emit("price.updated", updated, { lookup_key: lookupKey });
}

function createPrice(
  ctx: Ctx,
  input: {
    product: string;
    currency: string;
    unit_amount: number;
    recurring?: { interval: "day" | "week" | "month" | "year"; interval_count?: number };
    active?: boolean;
    nickname?: string | null;
    lookup_key?: string;
    transfer_lookup_key?: boolean;
    metadata?: Record<string, string> | null;
  },
): StoredObject {
  const id = newId(ID_PREFIX.price, 24);
  if (input.lookup_key) {
    claimLookupKey(ctx, input.lookup_key, id, input.transfer_lookup_key ?? false);
  }
  const price = priceObject({
    id,
    created: ctx.now(),
    product: input.product,
    active: input.active ?? true,
    currency: input.currency,
    unit_amount: input.unit_amount,
    interval: input.recurring?.interval ?? null,
    interval_count: input.recurring?.interval_count ?? 1,
    lookup_key: input.lookup_key ?? null,
    nickname: input.nickname ?? null,
    metadata: mergeMetadata({}, input.metadata),
  }) as unknown as StoredObject;
  putObject(ctx.account, "price", price);
  ctx.emit("price.created", price);
  return price;
}

/** `POST /v1/products` */
export function createProduct(ctx: Ctx): Answer {
  const p = parseParams(ProductCreate, ctx.params);
  const id = p.id ?? newId(ID_PREFIX.product);
  if (ctx.account.objects.product.has(id)) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `Product already exists.`,
      { code: "resource_already_exists", param: "id" },
    );
  }
  const now = ctx.now();
  let product = productObject({
    id,
    created: now,
    updated: now,
    name: p.name,
    active: p.active ?? true,
    description: p.description ?? null,
    metadata: mergeMetadata({}, p.metadata),
    default_price: null,
  }) as unknown as StoredObject;
  putObject(ctx.account, "product", product);
  ctx.emit("product.created", product);
  if (p.default_price_data) {
    const price = createPrice(ctx, { product: id, ...p.default_price_data });
    const before = product;
    product = touchProduct(product, now, { default_price: price.id });
    putObject(ctx.account, "product", product);
    ctx.emit("product.updated", product, previousAttributes(before, product));
  }
  return { body: expand(ctx.account, product, p.expand) };
}

/** `GET /v1/products/:id` */
export const retrieveProduct: Handler = retrieveHandler("product");

/** `POST /v1/products/:id` */
export function updateProduct(ctx: Ctx): Answer {
  const p = parseParams(ProductUpdate, ctx.params);
  const before = getLive(ctx.account, { kind: "product", id: ctx.path.id });
  if (p.default_price) {
    const price = getLive(ctx.account, {
      kind: "price",
      id: p.default_price,
      param: "default_price",
    });
    if (price.product !== before.id) {
      throw new StripeApiError(
        400,
        "invalid_request_error",
        `The price \`${price.id}\` does not belong to this product.`,
        { param: "default_price" },
      );
    }
  }
  const changes: Record<string, unknown> = {};
  if (p.name !== undefined) changes.name = p.name;
  if (p.active !== undefined) changes.active = p.active;
  if (p.description !== undefined) changes.description = p.description;
  if (p.default_price !== undefined) changes.default_price = p.default_price;
  if (p.metadata !== undefined) {
    changes.metadata = mergeMetadata(before.metadata as never, p.metadata);
  }
  const after = touchProduct(before, ctx.now(), changes);
  const previous = previousAttributes(before, after);
  delete previous.updated;
  putObject(ctx.account, "product", after);
  if (Object.keys(previous).length) ctx.emit("product.updated", after, previous);
  return { body: expand(ctx.account, after, p.expand) };
}

/** `DELETE /v1/products/:id` */
export function deleteProduct(ctx: Ctx): Answer {
  parseParams(z.strictObject({}), ctx.params);
  const product = getLive(ctx.account, { kind: "product", id: ctx.path.id });
  const hasPrices = [...ctx.account.objects.price.values()].some((p) => p.product === product.id);
  if (hasPrices) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "This product cannot be deleted because it has one or more user-created prices.",
      { code: "product_has_prices" },
    );
  }
  const stub = deletedObject("product", product.id) as unknown as StoredObject;
  putObject(ctx.account, "product", stub);
  ctx.emit("product.deleted", product);
  return { body: stub };
}

/** `GET /v1/products` */
export function listProducts(ctx: Ctx): Answer {
  const p = parseParams(ProductList, ctx.params);
  const items = [...ctx.account.objects.product.values()].filter((o) =>
    o.deleted !== true && (p.active === undefined || o.active === p.active) &&
    (!p.ids || p.ids.includes(o.id))
  );
  const page = paginate(items, p);
  return { body: expand(ctx.account, apiList(page.data, "/v1/products", page.has_more), p.expand) };
}

/** `POST /v1/prices` */
export function createPriceHandler(ctx: Ctx): Answer {
  const p = parseParams(PriceCreate, ctx.params);
  let productId = p.product;
  if (!productId && !p.product_data) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "You must specify either `product` or `product_data` when creating a price.",
      { code: "parameter_missing", param: "product" },
    );
  }
  if (productId && p.product_data) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "You may only specify one of these parameters: product, product_data.",
      { code: "parameter_invalid", param: "product_data" },
    );
  }
  if (productId) {
    getLive(ctx.account, { kind: "product", id: productId, param: "product" });
  } else {
    const now = ctx.now();
    const product = productObject({
      id: newId(ID_PREFIX.product),
      created: now,
      updated: now,
      name: p.product_data!.name,
      active: true,
      description: null,
      metadata: mergeMetadata({}, p.product_data!.metadata),
      default_price: null,
    }) as unknown as StoredObject;
    putObject(ctx.account, "product", product);
    ctx.emit("product.created", product);
    productId = product.id;
  }
  const price = createPrice(ctx, { ...p, product: productId });
  return { body: expand(ctx.account, price, p.expand) };
}

/** `GET /v1/prices/:id` */
export const retrievePrice: Handler = retrieveHandler("price");

/** `POST /v1/prices/:id`: only `active`, `nickname`, `metadata` and `lookup_key` change. */
export function updatePrice(ctx: Ctx): Answer {
  const p = parseParams(PriceUpdate, ctx.params);
  const before = getLive(ctx.account, { kind: "price", id: ctx.path.id });
  const changes: Record<string, unknown> = {};
  if (p.active !== undefined) changes.active = p.active;
  if (p.nickname !== undefined) changes.nickname = p.nickname;
  if (p.metadata !== undefined) {
    changes.metadata = mergeMetadata(before.metadata as never, p.metadata);
  }
  if (p.lookup_key !== undefined) {
    const key = p.lookup_key === "" ? null : p.lookup_key;
    if (key !== null && key !== before.lookup_key) {
      claimLookupKey(ctx, key, before.id, p.transfer_lookup_key ?? false);
    }
    changes.lookup_key = key;
  }
  const after = { ...before, ...changes } as StoredObject;
  const previous = previousAttributes(before, after);
  putObject(ctx.account, "price", after);
  if (Object.keys(previous).length) ctx.emit("price.updated", after, previous);
  return { body: expand(ctx.account, after, p.expand) };
}

/** `GET /v1/prices` */
export function listPrices(ctx: Ctx): Answer {
  const p = parseParams(PriceList, ctx.params);
  const items = [...ctx.account.objects.price.values()].filter((o) =>
    (p.active === undefined || o.active === p.active) &&
    (!p.product || o.product === p.product) &&
    (!p.currency || o.currency === p.currency) &&
    (!p.type || o.type === p.type) &&
    (!p.lookup_keys || p.lookup_keys.includes(o.lookup_key as string))
  );
  const page = paginate(items, p);
  return { body: expand(ctx.account, apiList(page.data, "/v1/prices", page.has_more), p.expand) };
}

/** The price of a subscription item, checked: it must exist, be active and recurring. */
export function recurringPrice(account: Account, id: string, param: string): StoredObject {
  const price = getLive(account, { kind: "price", id, param });
  if (!price.active) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `The price specified is inactive. This field only accepts active prices.`,
      { code: "price_inactive" as string, param },
    );
  }
  if (price.type !== "recurring") {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
      { param },
    );
  }
  return price;
}
