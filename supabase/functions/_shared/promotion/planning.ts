/**
 * Planning against a live target: reads both sides (a named service path: tier membership
 * counts must see every membership), asks the external systems in scope for their changes,
 * carries pending migrations, and builds the plan with its canonical text and hash.
 *
 * @module
 */
import { ApiError } from "../http.ts";
import { externalsIn, type PromotionContext } from "./context.ts";
import type { ExternalState, ExternalSystem } from "./external.ts";
import { KINDS, kindSpec, type Scope } from "./kinds.ts";
import {
  buildPlan,
  canonicalPlan,
  type Plan,
  type PlanChange,
  PlanRefusedError,
  type RowsByKind,
} from "./plan.ts";
import { readSide, type SideSnapshot } from "./read.ts";
import { type PendingMigration, schemaChanges } from "./schema.ts";
import { usersCopyChange } from "./users_scope.ts";
import { releaseRollbackChange } from "./rollback_scope.ts";
import { backupRestoreChange, type RestoreBackup } from "./restore_scope.ts";
import { flagRolloutChange, type RolloutPlanSchema } from "./rollout_scope.ts";
import type { z } from "zod";

/** The options a plan is made with. */
export interface PlanRequest {
  source: string;
  scope: Scope[];
  includeFlagState: boolean;
  /** Scope `schema`: the migrations pending in the target (see schema.ts). */
  migrations?: PendingMigration[];
  /** Scope `rollback`: the release to roll back (see rollback_scope.ts). */
  releaseId?: string;
  /** Scope `restore`: the backup to restore (see restore_scope.ts). */
  backup?: RestoreBackup;
  /** Scope `rollout`: the rollout to allow (see rollout_scope.ts). */
  rollout?: z.infer<typeof RolloutPlanSchema>;
}

/** A plan with its SHA-256 and canonical text (stored as is). */
export type PlannedText = { plan: Plan; hash: string; text: string };

/** What each external system in scope read, handed to its `plan` and `checks`. */
export type ExternalStates = Map<ExternalSystem, ExternalState>;

/** The database scopes a read needs: the promotion's, and what its external systems plan from. */
export function readScope(ctx: PromotionContext, scope: readonly Scope[]): Scope[] {
  const out = new Set(scope);
  for (const system of externalsIn(ctx, scope)) {
    for (const kind of system.desired) out.add(kindSpec(kind).scope);
  }
  return [...out];
}

/** The rows the target holds once the database part of the plan is applied (for a system). */
function desiredRows(
  system: ExternalSystem,
  scope: readonly Scope[],
  sides: { source: RowsByKind; target: RowsByKind },
): RowsByKind {
  const out: RowsByKind = {};
  for (const kind of system.desired) {
    const from = scope.includes(kindSpec(kind).scope) ? sides.source : sides.target;
    out[kind] = from[kind] ?? [];
  }
  return out;
}

/** Reads every external system in scope once. */
export async function readExternal(
  systems: readonly ExternalSystem[],
): Promise<ExternalStates> {
  const states: ExternalStates = new Map();
  for (const system of systems) states.set(system, await system.read());
  return states;
}

/** Is this a change the database transaction writes (not an external system's, not schema)? */
function isDatabaseChange(change: PlanChange): boolean {
  return KINDS.some((k) => k.name === change.kind);
}

/** The plan without external changes (what the database transaction must still match). */
export function databasePart(plan: Plan): Plan {
  return { ...plan, changes: plan.changes.filter(isDatabaseChange) };
}

/**
 * Plans from both sides' rows. External systems plan from `external` (what they read), or
 * are left out when it is `false` (the database part only).
 *
 * @throws {ApiError} 409 `plan_refused` when the plan would strand live memberships
 */
export async function planFrom(
  ctx: PromotionContext,
  req: PlanRequest,
  sides: { source: RowsByKind; target: SideSnapshot; external: ExternalStates | false },
): Promise<PlannedText> {
  const external: PlanChange[] = [];
  for (const [system, state] of sides.external || []) {
    const desired = desiredRows(system, req.scope, {
      source: sides.source,
      target: sides.target.rows,
    });
    external.push(...await system.plan(desired, state));
  }
  // Pending migrations are listed by the planner and carried as they are (schema.ts).
  if (req.scope.includes("schema")) external.push(...schemaChanges(req.migrations ?? []));
  if (req.scope.includes("users")) external.push(usersCopyChange(req.source, ctx.targetEnv));
  if (req.scope.includes("rollback")) {
    external.push(await releaseRollbackChange(ctx.target, req.releaseId));
  }
  if (req.scope.includes("restore") && req.backup) {
    external.push(backupRestoreChange(req.backup, ctx.targetEnv));
  }
  if (req.scope.includes("rollout") && req.rollout) {
    external.push(flagRolloutChange(req.rollout, ctx.targetEnv));
  }
  try {
    const plan = buildPlan({
      source: req.source,
      target: ctx.targetEnv,
      scope: req.scope,
      includeFlagState: req.includeFlagState,
      sourceRows: sides.source,
      targetRows: sides.target.rows,
      tierUsage: sides.target.tierUsage,
      external,
    });
    const { text, hash } = await canonicalPlan(plan);
    return { plan, hash, text };
  } catch (err) {
    if (err instanceof PlanRefusedError) {
      throw new ApiError(409, "plan_refused", err.message, { reasons: err.reasons });
    }
    throw err;
  }
}

/** Plans from given source rows (e.g. a bundle's) against the target; nothing is written. */
export async function computePlanFromRows(
  ctx: PromotionContext,
  req: PlanRequest,
  sourceRows: RowsByKind,
): Promise<PlannedText> {
  const target = await readSide(ctx.target, readScope(ctx, req.scope));
  const external = await readExternal(externalsIn(ctx, req.scope));
  return await planFrom(ctx, req, { source: sourceRows, target, external });
}

/** Reads both sides and plans; nothing is written. */
export async function computePlan(
  ctx: PromotionContext,
  req: PlanRequest,
): Promise<PlannedText> {
  // A restore's source is the backup (made in the target itself, usually), a rollout's the
  // target itself: nothing to read.
  if (req.scope.every((s) => s === "restore" || s === "rollout")) {
    const target = await readSide(ctx.target, []);
    return await planFrom(ctx, req, { source: {}, target, external: false });
  }
  if (req.source === ctx.targetEnv) {
    throw new ApiError(400, "invalid_request", `Cannot promote ${req.source} into itself`);
  }
  const scope = readScope(ctx, req.scope);
  const [source, target, external] = await Promise.all([
    readSide(ctx.sourceDb(req.source), scope),
    readSide(ctx.target, scope),
    readExternal(externalsIn(ctx, req.scope)),
  ]);
  return await planFrom(ctx, req, { source: source.rows, target, external });
}
