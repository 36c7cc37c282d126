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
import type { KindName } from "./kinds.ts";
import type { PlanChange, RowsByKind } from "./plan.ts";

/**
 * Change kinds the apply transaction does not write (database kinds are in kinds.ts): the
 * Stripe catalog's, pending migrations (`schema_migrations`, pushed by the Supabase CLI; see
 * schema.ts), the permission of a faithful users copy (`users_copy`; see users_scope.ts), of a
 * release rollback (`release_rollback`; see rollback_scope.ts) and of a backup restore
 * (`backup_restore`; see restore_scope.ts) and of a flag rollout (`flag_rollout`; see
 * rollout_scope.ts).
 */
export type ExternalKindName =
  | "stripe_products"
  | "stripe_prices"
  | "stripe_webhook_endpoints"
  | "schema_migrations"
  | "users_copy"
  | "release_rollback"
  | "backup_restore"
  | "flag_rollout";

/** What an external system's apply did, kept in `ops.promotion_effects` for revert. */
export type EffectsRecord = JsonObject;

/**
 * What an external system read of its world (the Stripe account's catalog and the links the
 * target holds), opaque to the pipeline: read once per phase and handed to `plan` and
 * `checks`, so an apply reads the account once before and once after.
 */
export type ExternalState = unknown;

/** An external system. */
export interface ExternalSystem {
  /** The `--scope` word that selects it. */
  scope: "stripe";
  /** The plan change kinds it owns. */
  kinds: readonly ExternalKindName[];
  /**
   * The database kinds it is planned from (`desired`): the source's rows where the promotion
   * carries their scope, the target's otherwise. They are read even when not in scope.
   */
  desired: readonly KindName[];
  /** Reads the system's current state (for `plan` and `checks`). */
  read(): Promise<ExternalState>;
  /**
   * Plans what the system needs so it matches `desired`: the rows the target database will
   * hold once the promotion's database changes are applied.
   *
   * @param state what `read` returned; read afresh when absent
   */
  plan(desired: RowsByKind, state?: ExternalState): Promise<PlanChange[]>;
  /**
   * Makes the changes, idempotently (keys derived from the promotion and the change). When it
   * fails half-way it undoes what it did before throwing.
   */
  apply(promotionId: string, changes: PlanChange[]): Promise<EffectsRecord>;
  /** Database writes inside the apply transaction (e.g. `tier_prices.stripe_price_id`). */
  record(tx: postgres.TransactionSql, effects: EffectsRecord): Promise<void>;
  /** Undoes `apply`; safe to run twice. */
  revert(promotionId: string, effects: EffectsRecord): Promise<void>;
  /**
   * Checks after apply (and in `validate`).
   *
   * @param state what `read` returned after the apply; read afresh when absent
   */
  checks(target: postgres.Sql, state?: ExternalState): Promise<CheckResult[]>;
}
