/**
 * Applying an approved promotion, as a short list of phases run under the target's apply
 * lock, each handing what it read and computed to the next (nothing is read or planned
 * twice):
 *
 * 1. **load** — the promotion as the caller (without its plan: only the carried migrations and
 *    the secret changes are picked from it), the request it was planned with, its systems;
 * 2. **check** — the approved migrations pushed, the source read once, secrets read from it,
 *    the target and every external system read once, the plan computed once and compared with
 *    the approved hash (`plan_drift`; nothing changed yet, the promotion stays approved);
 * 3. **begin** — the caller's own transition `approved → applying`, checked and committed by
 *    the database before any external effect (authorize first, then act);
 * 4. **external** — each external system applies its changes, idempotently, and its effects
 *    are saved for revert;
 * 5. **write** — one transaction on the data plane: the write permit, the target re-read and
 *    compared with what `check` read (re-planned only when it differs), every change with its
 *    snapshots, the systems' `record`, the audit entry `promotion.changes_written`;
 * 6. **validate** — every check, with the external systems read once after the apply;
 * 7. **settle** — `applying → succeeded`, or restore the snapshots, revert the effects and
 *    `applying → failed` with the failed checks.
 *
 * A failure in `external` or `write` reverts the effects and ends `applying → failed` with
 * the reason. A promotion found `applying` (a crashed apply) resumes at `validate`.
 *
 * @module
 */
import { asCaller, type Tx } from "../db.ts";
import { ApiError } from "../http.ts";
import { parseJson } from "../json/lossless.ts";
import { type CheckResult, runChecks } from "../validation/checks.ts";
import { writePlan } from "./apply.ts";
import {
  asDataPlane,
  BUNDLE_SOURCE,
  externalsIn,
  guarded,
  loadPromotion,
  PlanDriftError,
  type PromotionContext,
  type PromotionRow,
  promotionSummary,
  recordResults,
  requireRole,
  withApplyLock,
} from "./context.ts";
import { revertEffects, saveEffects } from "./effects.ts";
import type { EffectsRecord, ExternalSystem } from "./external.ts";
import { CARRIED_SCOPES, SECRET_SOURCE } from "./kinds.ts";
import { type Plan, type PlanChange, planDifferences, type RowsByKind } from "./plan.ts";
import {
  databasePart,
  type ExternalStates,
  planFrom,
  type PlanRequest,
  readExternal,
  readScope,
} from "./planning.ts";
import {
  readSecretPlaintexts,
  readSide,
  readSideIn,
  readSideText,
  type SideSnapshot,
} from "./read.ts";
import { restoreSnapshots } from "./rollback.ts";
import { appliedVersions, assertPushed, migrationsOf, SCHEMA_KIND } from "./schema.ts";

/** The outcome of an apply. */
export interface ApplyOutcome {
  promotion: PromotionRow;
  validation: CheckResult[];
  rolled_back: boolean;
}

/** Rows and secrets handed in by the caller (a bundle import, a secret proposal). */
export interface ApplyInput {
  sourceRows?: RowsByKind;
  /** Secret values (from the bundle or the proposal, not a database). */
  plaintexts?: Map<string, string>;
}

/** What `load` found: the promotion and everything later phases need to know about it. */
interface Run {
  ctx: PromotionContext;
  id: string;
  /** The promotion without its plan (megabytes at scale: see {@link carriedChanges}). */
  promotion: PromotionRow;
  /** The approved plan's carried migrations and secret changes. */
  carried: PlanChange[];
  /** The request it was planned with (the approved migrations carried). */
  req: PlanRequest;
  systems: ExternalSystem[];
  /** The source's rows, read at most once. */
  source(): Promise<RowsByKind>;
  input: ApplyInput;
}

/** What `check` read and computed: handed to `external` and `write`. */
interface Checked {
  plan: Plan;
  target: SideSnapshot;
  plaintexts: Map<string, string>;
}

/**
 * The changes of the stored plan that an apply needs before re-planning: the carried
 * migrations and the secret entries. Picked in the database: the whole plan is read and
 * parsed only to explain a drift.
 */
async function carriedChanges(tx: Tx, id: string): Promise<PlanChange[]> {
  const [row] = await tx.unsafe(
    `select jsonb_path_query_array(plan, '$.changes[*] ? (@.kind == "${SCHEMA_KIND}"
              || (@.kind == "config" && (@.after.is_secret == true || @.before.is_secret == true)))')::text
            as changes
     from ops.promotions where id = $1`,
    [id],
  );
  return row ? parseJson(row.changes as string) as unknown as PlanChange[] : [];
}

async function load(ctx: PromotionContext, id: string, input: ApplyInput): Promise<Run> {
  const [promotion, carried] = await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      const promotion = await loadPromotion(tx, id, false);
      return [promotion, await carriedChanges(tx, id)] as const;
    })
  );
  const req: PlanRequest = {
    source: promotion.source_env,
    scope: promotion.scope,
    includeFlagState: promotion.options.include_flag_state,
    // The approved migrations are carried; they must be pushed before the apply.
    migrations: migrationsOf(carried),
  };
  const stored = promotion.source_env === BUNDLE_SOURCE || promotion.source_env === SECRET_SOURCE;
  if (stored && !input.sourceRows) {
    throw new ApiError(
      400,
      "transfer_key_required",
      promotion.source_env === BUNDLE_SOURCE
        ? `Cannot apply promotion ${id}: it comes from a config bundle; send the transfer key`
        : `Cannot apply promotion ${id}: it sets a secret; apply it through the ops API`,
    );
  }
  let rows: Promise<RowsByKind> | undefined = input.sourceRows && Promise.resolve(input.sourceRows);
  const source = () =>
    rows ??= readSide(ctx.sourceDb(req.source), readScope(ctx, req.scope)).then((s) => s.rows);
  return {
    ctx,
    id,
    promotion,
    carried,
    req,
    systems: externalsIn(ctx, req.scope),
    source,
    input,
  };
}

/** Plaintext a plan needs: secret entries whose value is new or changes. */
function secretsNeeded(changes: readonly PlanChange[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of changes) {
    if (c.kind !== "config" || !c.after || c.after.is_secret !== true) continue;
    const fp = c.after.secret_fingerprint as string;
    if (!c.before || c.before.secret_fingerprint !== fp) out.set(c.key, fp);
  }
  return out;
}

async function check(run: Run): Promise<Checked> {
  const { ctx, id, promotion, req } = run;
  if (promotion.status !== "approved") {
    throw new ApiError(
      409,
      "not_approved",
      `Cannot apply promotion ${id}: it is ${promotion.status}`,
      {
        status: promotion.status,
        required_approvals: promotion.required_approvals,
      },
    );
  }
  assertPushed(await appliedVersions(ctx.target), req.migrations ?? []);
  const source = await run.source();
  let plaintexts = run.input.plaintexts ?? new Map<string, string>();
  const needed = secretsNeeded(run.carried);
  if (!run.input.plaintexts && needed.size) {
    try {
      plaintexts = await readSecretPlaintexts(ctx.sourceDb(req.source), needed);
    } catch (err) {
      // A secret changed or vanished in the source since the plan: that is drift.
      throw new PlanDriftError(id, [(err as Error).message]);
    }
  }
  const [target, external] = await Promise.all([
    readSide(ctx.target, readScope(ctx, req.scope)),
    readExternal(run.systems),
  ]);
  const now = await planFrom(ctx, req, { source, target, external });
  if (now.hash !== promotion.plan_hash) {
    const approved = await asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id));
    throw new PlanDriftError(id, planDifferences(approved.plan!, now.plan));
  }
  return { plan: now.plan, target, plaintexts };
}

/** The caller's transition, committed before anything changes. */
async function begin(run: Run): Promise<void> {
  await guarded(() =>
    asCaller(run.ctx.target, run.ctx.claims, async (tx) => {
      const moved = await tx`
        update ops.promotions set status = 'applying' where id = ${run.id} and status = 'approved'
        returning id`;
      if (!moved.length) {
        throw new ApiError(
          409,
          "conflict",
          `Cannot apply promotion ${run.id}: it is no longer approved`,
        );
      }
    })
  );
}

/** Each system's changes, made and their effects saved; returns them for `record`. */
async function applyExternal(
  run: Run,
  plan: Plan,
  effects: Map<ExternalSystem, EffectsRecord>,
): Promise<void> {
  for (const system of run.systems) {
    const changes = plan.changes.filter((c) => system.kinds.includes(c.kind as never));
    const record = await system.apply(run.id, changes);
    effects.set(system, record);
    await saveEffects(run.ctx.target, run.id, { system, effects: record });
  }
}

/**
 * The target read again inside the write transaction: unchanged since `check`, its plan
 * stands; otherwise the database part is planned again and must still match.
 */
async function recheckTarget(run: Run, tx: Tx, checked: Checked) {
  const scope = readScope(run.ctx, run.req.scope);
  // Compared as read (JSON text from Postgres): nothing is parsed unless it changed.
  if (await readSideText(tx, scope) === checked.target.text) return;
  const now = await readSideIn(tx, scope);
  const { plan } = await planFrom(run.ctx, run.req, {
    source: await run.source(),
    target: now,
    external: false,
  });
  const drift = planDifferences(databasePart(checked.plan), databasePart(plan));
  if (drift.length) throw new PlanDriftError(run.id, drift);
}

/** Every change, its snapshots, the systems' records and the audit entry, all or nothing. */
async function write(
  run: Run,
  checked: Checked,
  effects: Map<ExternalSystem, EffectsRecord>,
): Promise<void> {
  const { ctx, id } = run;
  await asCaller(ctx.target, ctx.claims, (tx) =>
    asDataPlane(tx, id, async () => {
      await recheckTarget(run, tx, checked);
      const written = await writePlan(tx, checked.plan, {
        promotionId: id,
        secrets: checked.plaintexts,
      });
      for (const [system, record] of effects) await system.record(tx, record);
      await tx`
        select ops.append_audit('promotion.changes_written', 'promotion', ${id},
          ${tx.json({ summary: checked.plan.summary, snapshots: written.snapshots })},
          ${ctx.targetEnv})`;
    }));
}

/** `applying → failed` with the reason, after reverting what external systems did. */
async function fail(run: Run, err: unknown, reverted: string[]): Promise<ApplyOutcome> {
  const reason = [(err as Error).message, ...reverted].join("; ");
  await guarded(() =>
    asCaller(run.ctx.target, run.ctx.claims, async (tx) => {
      await tx`update ops.promotions set status = 'failed', failure = ${
        tx.json({ error: reason })
      } where id = ${run.id}`;
    })
  );
  // A drift found at the last moment is still the caller's to hear as such.
  if (err instanceof ApiError) throw err;
  return { promotion: await promotionSummary(run.ctx, run.id), validation: [], rolled_back: false };
}

/** Every check; external systems are read once after the apply, for parity and their own. */
async function validate(run: Run): Promise<CheckResult[]> {
  const { ctx, req } = run;
  let after: Promise<ExternalStates> | undefined;
  const external = () => after ??= readExternal(run.systems);
  const validation = await runChecks(ctx.target, {
    custom: await ctx.customChecks(),
    // Once applied, the migrations are no longer pending and a copy's permission is no data:
    // parity is the data's.
    replan: async () => {
      const target = await readSide(ctx.target, readScope(ctx, req.scope));
      const source = await run.source();
      const scope = req.scope.filter((s) => !CARRIED_SCOPES.includes(s));
      return (await planFrom(ctx, { ...req, scope, migrations: [] }, {
        source,
        target,
        external: await external(),
      })).plan;
    },
  });
  const states = await external();
  for (const system of run.systems) {
    validation.push(...await system.checks(ctx.target, states.get(system)));
  }
  await recordResults(ctx, run.id, { source: req.source, results: validation });
  return validation;
}

/** `applying → succeeded`, or back to the before-images and `applying → failed`. */
async function settle(run: Run, validation: CheckResult[]): Promise<ApplyOutcome> {
  const { ctx, id } = run;
  const failed = validation.filter((r) => !r.passed);
  await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      if (!failed.length) {
        await tx`update ops.promotions set status = 'succeeded' where id = ${id}`;
        return;
      }
      await asDataPlane(tx, id, async () => {
        await restoreSnapshots(tx, id);
        const problems = await revertEffects(tx, id, run.systems);
        if (problems.length) console.error(`promotion ${id}: ${problems.join("; ")}`);
      });
      await tx`
        update ops.promotions set status = 'failed',
          failure = ${tx.json({ failed_checks: failed.map((f) => f.name) })}
        where id = ${id}`;
    })
  );
  return {
    promotion: await promotionSummary(ctx, id),
    validation,
    rolled_back: failed.length > 0,
  };
}

/**
 * Applies an approved promotion (operators and admins): check, begin, external systems,
 * write, validate, settle (see the module comment). A failed check rolls back from the
 * snapshots and the promotion ends `failed` with the reasons. A promotion left `applying` by
 * a crash is resumed at validation.
 *
 * @param input.sourceRows the source's rows when they come from a bundle or proposal
 * @param input.plaintexts secret values for a bundle import (from the bundle, not a database)
 * @throws {ApiError} 409 `locked`, `not_approved`, `plan_drift`, `schema_not_pushed`
 */
export async function applyPromotion(
  ctx: PromotionContext,
  id: string,
  input: ApplyInput = {},
): Promise<ApplyOutcome> {
  await requireRole(ctx, ["operator", "admin"], "apply a promotion");
  return await withApplyLock(ctx, async () => {
    const run = await load(ctx, id, input);
    if (run.promotion.status !== "applying") {
      const checked = await check(run);
      await begin(run);
      const effects = new Map<ExternalSystem, EffectsRecord>();
      try {
        await applyExternal(run, checked.plan, effects);
        await write(run, checked, effects);
      } catch (err) {
        // The write rolled back: the target is untouched; undo what the systems got.
        const reverted = effects.size ? await revertEffects(ctx.target, id, run.systems) : [];
        return await fail(run, err, reverted);
      }
    }
    return await settle(run, await validate(run));
  });
}
