/**
 * External systems a promotion changes besides the target database — the Stripe catalog of
 * the target's account. They plug into the same pipeline: their changes are part of the plan
 * (hashed, approved, drift-checked), applied **before** the database transaction,
 * idempotently, and reverted (compensated) when the database step or validation fails, or on
 * rollback.
 *
 * @module
 */
import type postgres from "postgres";
import type { JsonObject } from "../json/lossless.ts";
import type { CheckResult } from "../validation/checks.ts";
import type { PlanChange, RowsByKind } from "./plan.ts";

/**
 * Change kinds the apply transaction does not write (database kinds are in kinds.ts): the
 * Stripe catalog's, pending migrations (`schema_migrations`, pushed by the Supabase CLI; see
 * schema.ts) and the permission of a faithful users copy (`users_copy`; see users_scope.ts).
 */
export type ExternalKindName =
  | "stripe_products"
  | "stripe_prices"
  | "stripe_webhook_endpoints"
  | "schema_migrations"
  | "users_copy";

/** What an external system's apply did, kept in `ops.promotion_effects` for revert. */
export type EffectsRecord = JsonObject;

/** An external system. */
export interface ExternalSystem {
  /** The `--scope` word that selects it. */
  scope: "stripe";
  /** The plan change kinds it owns. */
  kinds: readonly ExternalKindName[];
  /**
   * Plans what the system needs so it matches `desired`: the rows the target database will
   * hold once the promotion's database changes are applied.
   */
  plan(desired: RowsByKind): Promise<PlanChange[]>;
  /**
   * Makes the changes, idempotently (keys derived from the promotion and the change). When it
   * fails half-way it undoes what it did before throwing.
   */
  apply(promotionId: string, changes: PlanChange[]): Promise<EffectsRecord>;
  /** Database writes inside the apply transaction (e.g. `tier_prices.stripe_price_id`). */
  record(tx: postgres.TransactionSql, effects: EffectsRecord): Promise<void>;
  /** Undoes `apply`; safe to run twice. */
  revert(promotionId: string, effects: EffectsRecord): Promise<void>;
  /** Checks after apply (and in `validate`). */
  checks(target: postgres.Sql): Promise<CheckResult[]>;
}
