/**
 * The promotable kinds, described as data. Plan, apply, snapshot, rollback and validation
 * are written once over these descriptions; a new kind is a new description.
 *
 * A kind's rows are read as "logical rows": JSON objects whose fields are the kind's
 * `fields`, with references to other kinds by natural key (a feature names its tier by
 * `tier` = the tier's slug, never by the target's surrogate id).
 *
 * @module
 */

import { flagRuleErrors } from "../flags/definition.ts";
import { JsonNumber, type JsonObject } from "../json/lossless.ts";

/** Names of the kinds. */
export type KindName = "config" | "tiers" | "tier_features" | "tier_prices" | "flags";

/**
 * What `--scope` selects, declared once for the API, the CLI and the database's check:
 * `config`, `tiers` (with features and prices), `flags` (the kinds below); `stripe`: the
 * target's Stripe catalog (external.ts); `schema`: the migrations pending in the target, listed
 * by the planner (schema.ts); `users`: permission for one faithful users copy (users_scope.ts);
 * `rollback`: permission to roll one release back (rollback_scope.ts); `restore`: permission for
 * one restore of a named backup (restore_scope.ts); `rollout`: permission for one rollout of a
 * flag, as planned (rollout_scope.ts).
 */
export const SCOPES = [
  "config",
  "tiers",
  "flags",
  "stripe",
  "schema",
  "users",
  "rollback",
  "restore",
  "rollout",
] as const;

/**
 * Scopes whose one plan change the planner carries as asked (no database kind, no external
 * system): `schema` (the pending migrations listed), `users` (a faithful copy's permission) and
 * `rollback` (a release rollback's permission).
 */
export const CARRIED_SCOPES: readonly string[] = [
  "schema",
  "users",
  "rollback",
  "restore",
  "rollout",
];

/**
 * Parses a comma-separated scope list as people write it (`config,tiers`).
 *
 * @throws {Error} naming the unknown words and the scopes there are
 * @example
 * ```ts
 * parseScopeList("config, tiers"); // ["config", "tiers"]
 * ```
 */
export function parseScopeList(text: string): Scope[] {
  const words = text.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = words.filter((w) => !(SCOPES as readonly string[]).includes(w));
  if (!words.length || unknown.length) {
    throw new Error(
      `${unknown.join(", ") || "an empty list"} (expected some of ${SCOPES.join(", ")})`,
    );
  }
  return [...new Set(words)] as Scope[];
}

/**
 * The `source_env` of a promotion that sets one secret of its own target (where approval is
 * required, `config set-secret` plans instead of writing). Not another environment: the
 * target's environment-specific entries are its own to change.
 */
export const SECRET_SOURCE = "secret";
/** The scopes a promotion covers when none is named. */
export const DEFAULT_SCOPES = ["config", "tiers", "flags"] as const;
/** One of {@link SCOPES}. */
export type Scope = typeof SCOPES[number];

/** How a field is typed in SQL (for `jsonb_to_recordset`). */
export type FieldType = "text" | "integer" | "bigint" | "boolean" | "jsonb";

/** One logical field and where it lives. */
export interface FieldSpec {
  /** Logical name, as in plans and bundles. */
  name: string;
  type: FieldType;
  /** Physical column; absent for a reference field (see {@link KindSpec.parent}). */
  column?: string;
}

/** A promotable kind. */
export interface KindSpec {
  name: KindName;
  scope: Scope;
  /** For messages: "config entry", "tier" … */
  label: string;
  /** The physical table. */
  table: string;
  /** Surrogate primary key column (never crosses environments). */
  idColumn: string;
  /** Logical fields forming the natural key, in order. */
  keyFields: string[];
  /** Every logical field, key fields included. */
  fields: FieldSpec[];
  /** Fields whose target value always stays (never planned, never copied). */
  envSpecific: string[];
  /** Fields that stay in the target unless the plan includes state (flags). */
  stateFields: string[];
  /** Fields that cannot change in place: a change replaces the row (prices). */
  immutableFields: string[];
  /** A reference to another kind by natural key: logical `field` ↔ physical `column`. */
  parent?: { field: string; kind: KindName; column: string };
  /**
   * Rows are secret when `flagField` is true: `valueField` is then SQL null and the value
   * travels as ciphertext only.
   */
  secret?: {
    flagField: string;
    valueField: string;
    fingerprintField: string;
    ciphertextColumn: string;
  };
  /** What "gone from the source" means: delete the row, or archive it in place. */
  removal: "delete" | "archive";
  /**
   * The boolean field that marks a row inactive: an archived row (removal `archive`) and a
   * retired one (see {@link KindSpec.heldByMemberships}) keep existing with it false.
   */
  activeField?: string;
  /**
   * Memberships point at rows of this kind (tiers): such a row is never deleted while it has
   * memberships (retired instead; refused while one is live), and a change to it or to its
   * children (kinds whose `parent` it is) is high risk while it has live ones.
   */
  heldByMemberships?: boolean;
  /** Rows whose `field` is true on either side stay as the target has them (kept, listed). */
  keptWhen?: { field: string; reason: string };
  /**
   * A row new to the target takes these state values unless the plan includes state (a new
   * flag arrives disabled), and its change says why.
   */
  newState?: { values: JsonObject; reason: string };
  /** Every update of this kind is high risk (prices: what customers pay). */
  alwaysHighRisk?: boolean;
  /** Why a change to an immutable field replaces the row (see `immutableFields`). */
  replaceReason?: string;
  /**
   * What is wrong with a source row (one line per problem, naming the field): a row with
   * problems refuses the plan, so nothing invalid reaches the target (flags: the rule format).
   */
  rowErrors?: (row: JsonObject) => string[];
  /** Only rows matching this SQL condition (on alias `x`) are promotable. */
  where?: string;
  /** Creates and updates run in ascending order, deletions in descending. */
  order: number;
}

/** The kinds of database rows, in apply order. */
export const KINDS: readonly KindSpec[] = [
  {
    name: "tiers",
    scope: "tiers",
    label: "tier",
    table: "public.membership_tiers",
    idColumn: "id",
    keyFields: ["slug"],
    fields: [
      { name: "slug", type: "text", column: "slug" },
      { name: "name", type: "text", column: "name" },
      { name: "description", type: "text", column: "description" },
      { name: "sort_order", type: "integer", column: "sort_order" },
      { name: "active", type: "boolean", column: "active" },
      { name: "metadata", type: "jsonb", column: "metadata" },
    ],
    envSpecific: [],
    stateFields: [],
    immutableFields: [],
    removal: "delete",
    activeField: "active",
    heldByMemberships: true,
    order: 10,
  },
  {
    name: "tier_features",
    scope: "tiers",
    label: "tier feature",
    table: "public.tier_features",
    idColumn: "id",
    keyFields: ["tier", "feature_key"],
    fields: [
      { name: "tier", type: "text" },
      { name: "feature_key", type: "text", column: "feature_key" },
      { name: "value", type: "jsonb", column: "value" },
    ],
    envSpecific: [],
    stateFields: [],
    immutableFields: [],
    parent: { field: "tier", kind: "tiers", column: "tier_id" },
    removal: "delete",
    order: 20,
  },
  {
    name: "tier_prices",
    scope: "tiers",
    label: "tier price",
    table: "public.tier_prices",
    idColumn: "id",
    keyFields: ["lookup_key"],
    fields: [
      { name: "tier", type: "text" },
      { name: "lookup_key", type: "text", column: "lookup_key" },
      { name: "currency", type: "text", column: "currency" },
      { name: "unit_amount", type: "bigint", column: "unit_amount" },
      { name: "billing_interval", type: "text", column: "billing_interval" },
      { name: "interval_count", type: "integer", column: "interval_count" },
      { name: "active", type: "boolean", column: "active" },
      { name: "stripe_price_id", type: "text", column: "stripe_price_id" },
    ],
    envSpecific: ["stripe_price_id"],
    stateFields: [],
    immutableFields: ["tier", "currency", "unit_amount", "billing_interval", "interval_count"],
    parent: { field: "tier", kind: "tiers", column: "tier_id" },
    // As in Stripe: a price is never deleted; it is archived (inactive, lookup key released).
    removal: "archive",
    activeField: "active",
    alwaysHighRisk: true,
    replaceReason: "prices are immutable: a new price takes the lookup key",
    where: "x.lookup_key is not null",
    order: 30,
  },
  {
    name: "config",
    scope: "config",
    label: "config entry",
    table: "public.app_config",
    idColumn: "key",
    keyFields: ["key"],
    fields: [
      { name: "key", type: "text", column: "key" },
      { name: "value", type: "jsonb", column: "value" },
      { name: "description", type: "text", column: "description" },
      { name: "schema_version", type: "integer", column: "schema_version" },
      { name: "is_secret", type: "boolean", column: "is_secret" },
      { name: "env_specific", type: "boolean", column: "env_specific" },
      { name: "secret_fingerprint", type: "text", column: "secret_fingerprint" },
    ],
    envSpecific: [],
    stateFields: [],
    immutableFields: [],
    secret: {
      flagField: "is_secret",
      valueField: "value",
      fingerprintField: "secret_fingerprint",
      ciphertextColumn: "secret_ciphertext",
    },
    keptWhen: { field: "env_specific", reason: "environment-specific: the target keeps its own" },
    removal: "delete",
    order: 40,
  },
  {
    name: "flags",
    scope: "flags",
    label: "feature flag",
    table: "public.feature_flags",
    idColumn: "key",
    keyFields: ["key"],
    fields: [
      { name: "key", type: "text", column: "key" },
      { name: "description", type: "text", column: "description" },
      { name: "enabled", type: "boolean", column: "enabled" },
      { name: "rollout_percent", type: "integer", column: "rollout_percent" },
      { name: "targeting_rules", type: "jsonb", column: "targeting_rules" },
      { name: "stickiness", type: "text", column: "stickiness" },
      { name: "variants", type: "jsonb", column: "variants" },
    ],
    envSpecific: [],
    stateFields: ["enabled", "rollout_percent"],
    immutableFields: [],
    newState: {
      values: { enabled: false, rollout_percent: new JsonNumber("0") },
      reason: "arrives disabled (flag state is not promoted without --include-flag-state)",
    },
    // Rules, stickiness and variants are definitions: they travel, and are checked first.
    rowErrors: flagRuleErrors,
    removal: "delete",
    order: 50,
  },
];

/** The kind named `name`. @throws {Error} for an unknown kind */
export function kindSpec(name: string): KindSpec {
  const spec = KINDS.find((k) => k.name === name);
  if (!spec) throw new Error(`Cannot find promotable kind "${name}"`);
  return spec;
}

/** The kinds a scope list selects, in apply order. */
export function kindsInScope(scope: readonly string[]): KindSpec[] {
  return KINDS.filter((k) => scope.includes(k.scope));
}

/** The natural key of a logical row, e.g. `pro` or `pro/max_projects`. */
export function naturalKey(spec: KindSpec, row: Record<string, unknown>): string {
  return spec.keyFields.map((f) => String(row[f])).join("/");
}
