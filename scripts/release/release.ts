/**
 * A release: what `stagecoach release --to <env>` does, step by step, with every step
 * recorded in the target's `ops.releases` (see record.ts). The order:
 *
 * 1. `migrations` — the migrations pending in the target (file name, SHA-256 of the bytes),
 *    linted; `supabase db push --dry-run` shown.
 * 2. `plan` — the promotion source → target of config, tiers, flags, the Stripe catalog and
 *    the pending schema, recorded in the target (its policy decides the approvals needed).
 * 3. `approval` — approved: go on; awaiting approval: stop, exit 3 (`--wait` polls).
 * 4. `schema_check` — the checkout's pending migrations are still exactly the approved ones,
 *    else `plan_drift` and nothing is applied.
 * 5. `backup` — (production) a backup of the target, created and verified before anything
 *    changes, recorded on the release.
 * 6. `db_push` — the revert scripts of the pending migrations recorded on the release, then
 *    `supabase db push`.
 * 7. `secrets` — the target's function secrets (`supabase secrets set`).
 * 8. `functions_deploy` — `supabase functions deploy --use-api`.
 * 9. `apply` — the promotion (drift-checked, validated, rolled back on a failed check).
 * 10. `validate` — every check, standalone.
 * 11. `watch` — (an environment with a watch window: production) the release is watched; a
 *    breach rolls it back by itself (`_shared/release/watch_job.ts`).
 *
 * A re-run of the same commit continues after the last finished step; a finished release run
 * again changes nothing. The I/O is passed in ({@link ReleaseDeps}), so the order and the
 * re-run rules are tested without the world.
 *
 * @module
 */
import {
  migrationsOf,
  type PendingMigration,
} from "../../supabase/functions/_shared/promotion/schema.ts";
import type { Plan } from "../../supabase/functions/_shared/promotion/plan.ts";
import { CARRIED_SCOPES, type Scope } from "../../supabase/functions/_shared/promotion/kinds.ts";
import type { OpsCaller } from "../../supabase/functions/_shared/api/contract.ts";
import type { ReleaseRow, ReleaseStep } from "./record.ts";
import { revertDrift } from "./reverts.ts";

/** Where a release records itself (`ReleaseRecord` in the target; a memory one in tests). */
export interface ReleaseLog {
  row: ReleaseRow;
  stepStatus(name: string): ReleaseStep["status"] | undefined;
  step(
    name: string,
    status: ReleaseStep["status"],
    summary?: string | null,
    promotionId?: string | null,
  ): Promise<void>;
  status(status: ReleaseRow["status"]): Promise<void>;
  /** Reads the row again (the watch moves the status in the database). */
  refresh(): Promise<void>;
}

/** The promotion as the release reads it from the ops API. */
export interface ReleasePromotion {
  id: string;
  status: string;
  risk: string;
  plan_hash: string;
  required_approvals: number | string;
  plan?: Plan;
  failure?: unknown;
}

/** What a release needs from the world. */
export interface ReleaseDeps {
  /** The release's record in the target. */
  record: ReleaseLog;
  /** The migrations pending in the target, from the checkout, linted. */
  pendingMigrations(): Promise<PendingMigration[]>;
  /** The target's ops API as the acting user, by route of the contract. */
  ops: OpsCaller;
  /** The Supabase CLI against the target. */
  supabase: {
    dbPush(opts: { dryRun: boolean }): Promise<string>;
    setSecrets(secrets: Record<string, string>): Promise<string>;
    deployFunctions(): Promise<string>;
  };
  /** Function secrets the target needs (values never printed or recorded). */
  functionSecrets(): Promise<Record<string, string>>;
  /**
   * Creates and verifies a backup of the target and records it on the release; absent where
   * the target takes none (only production, by default).
   */
  backup?(): Promise<{ summary: string }>;
  /** Records the revert scripts of these migrations on the release, before they are pushed. */
  recordReverts(migrations: readonly PendingMigration[]): Promise<string>;
  /**
   * Watches the applied release until the watch ends; null when the target has no watch
   * window. An outcome other than `passed` means the release was rolled back (or needs a
   * restore).
   */
  watch(): Promise<{ outcome: string; summary: string } | null>;
  log(line: string): void;
  sleep?(ms: number): Promise<void>;
}

/** What a release is asked to do. */
export interface ReleaseRequest {
  source: string;
  target: string;
  scope: Scope[];
  /** Stop once the plan is recorded and its approval state known. */
  planOnly?: boolean;
  /** Poll for approvals until this many ms have passed (0: do not wait). */
  waitMs?: number;
  /** Poll interval while waiting; default 10 s. */
  pollMs?: number;
}

/** The outcome: the row and the exit code (0 released or nothing, 1 failed, 3 waiting). */
export interface ReleaseOutcome {
  release: ReleaseRow;
  promotion: ReleasePromotion | null;
  plan: Plan | null;
  exitCode: 0 | 1 | 3;
  /** True when the release had already finished: nothing was done. */
  unchanged: boolean;
  /** The reason of a failure, in words. */
  error?: string;
  code?: string;
}

/** A step that failed: the release stops, recorded as failed. */
export class ReleaseStepError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ReleaseStepError";
    this.code = code;
  }
}

/** Which recorded pending migrations differ from the checkout's (empty when none). */
export function schemaDrift(
  approved: readonly PendingMigration[],
  now: readonly PendingMigration[],
): string[] {
  const key = (m: PendingMigration) => `${m.version}_${m.name}`;
  const a = new Map(approved.map((m) => [key(m), m.sha256]));
  const b = new Map(now.map((m) => [key(m), m.sha256]));
  const lines: string[] = [];
  for (const [k, sha] of a) {
    if (!b.has(k)) lines.push(`${k}: approved but no longer pending in the checkout`);
    else if (b.get(k) !== sha) lines.push(`${k}: edited since approval (SHA-256 differs)`);
  }
  for (const k of b.keys()) if (!a.has(k)) lines.push(`${k}: pending but not in the approved plan`);
  return lines;
}

/** The migrations a plan carries (scope `schema`). */
export function plannedMigrations(plan: Plan | undefined): PendingMigration[] {
  return migrationsOf(plan?.changes ?? []);
}

const FINISHED = new Set(["succeeded", "skipped"]);

/** What one run of a release knows, handed from step to step. */
interface Run {
  req: ReleaseRequest;
  deps: ReleaseDeps;
  promotion: ReleasePromotion | null;
  plan: Plan | null;
  /** The checkout's pending migrations, linted (listed by `migrations`, checked again). */
  pending: PendingMigration[];
}

/** A step's outcome: its status (default succeeded) and the summary recorded. */
type StepResult = { status?: "succeeded" | "skipped"; summary: string };

/** Runs a step unless it already finished; records running → succeeded/skipped/failed. */
async function step(run: Run, name: string, fn: (run: Run) => Promise<StepResult>) {
  const { record: rec, log } = run.deps;
  if (FINISHED.has(rec.stepStatus(name) ?? "")) {
    log(`${name}: done earlier`);
    return;
  }
  await rec.step(name, "running");
  log(`${name}: running`);
  const t0 = performance.now();
  try {
    const r = await fn(run);
    await rec.step(name, r.status ?? "succeeded", r.summary, run.promotion?.id ?? null);
    const ms = Math.round(performance.now() - t0);
    log(`${name}: ${r.status ?? "succeeded"} — ${r.summary} (${ms} ms)`);
  } catch (err) {
    const message = (err as Error).message;
    await rec.step(name, "failed", message.slice(0, 2000), run.promotion?.id ?? null);
    log(`${name}: failed — ${message}`);
    throw err;
  }
}

/** `migrations`: what is pending in the target, linted; the push's dry run shown. */
async function listPending(run: Run): Promise<StepResult> {
  run.pending = await run.deps.pendingMigrations();
  const { pending } = run;
  const findings = pending.reduce((n, m) => n + m.findings.length, 0);
  const dry = pending.length ? await run.deps.supabase.dbPush({ dryRun: true }) : "";
  if (dry) run.deps.log(dry.trim());
  const names = pending.map((m) => `${m.version}_${m.name}`).join(", ");
  return {
    summary: pending.length
      ? `${pending.length} pending (${names}); ${findings} lint finding(s)`
      : "none pending",
  };
}

/** `plan`: the promotion of data and schema, recorded in the target. */
async function recordPlan(run: Run): Promise<StepResult> {
  if (run.promotion) return { summary: `promotion ${run.promotion.id} (recorded earlier)` };
  // The migrations step may have finished in an earlier run: list them again.
  if (!run.pending.length) run.pending = await run.deps.pendingMigrations();
  const { req } = run;
  const out = await run.deps.ops("promotion.plan", {
    body: {
      source: req.source,
      scope: req.scope,
      ...(req.scope.includes("schema") ? { migrations: run.pending } : {}),
    },
  });
  if (!("promotion" in out)) {
    run.plan = out.plan;
    return { status: "skipped", summary: "nothing to promote: the target matches the source" };
  }
  const p = run.promotion = out.promotion;
  run.plan = p.plan ?? null;
  return {
    summary: `promotion ${p.id}: ${
      run.plan?.changes.length ?? "?"
    } change(s), risk ${p.risk}, ${p.required_approvals} approval(s) required`,
  };
}

/**
 * `approval`: approved (or nothing to approve) → go on; awaiting → recorded waiting.
 *
 * @returns true when the release waits for approvals
 */
async function awaitApproval(run: Run): Promise<boolean> {
  const { req, deps } = run;
  if (!run.promotion) {
    await step(
      run,
      "approval",
      () => Promise.resolve({ status: "skipped" as const, summary: "no promotion to approve" }),
    );
    return false;
  }
  const p = run.promotion = await waitForApproval(req, deps, run.promotion);
  if (p.status === "awaiting_approval" || p.status === "planned") {
    await deps.record.step(
      "approval",
      "waiting",
      `${p.required_approvals} approval(s) required; approve with stagecoach promote approve ${p.id} --env ${req.target}`,
      p.id,
    );
    await deps.record.status("waiting_approval");
    return true;
  }
  await step(run, "approval", () => {
    if (!["approved", "applying", "succeeded"].includes(p.status)) {
      throw new ReleaseStepError(
        "not_approved",
        `Cannot release: promotion ${p.id} is ${p.status}`,
      );
    }
    return Promise.resolve({ summary: `promotion ${p.id} is ${p.status}` });
  });
  return false;
}

/** `schema_check`: the checkout's pending migrations are exactly the approved ones. */
async function checkSchema(run: Run): Promise<StepResult> {
  const now = await run.deps.pendingMigrations();
  const approved = plannedMigrations(run.plan ?? undefined);
  const drift = [...schemaDrift(approved, now), ...revertDrift(approved, now)];
  if (drift.length) {
    throw new ReleaseStepError(
      "plan_drift",
      `Cannot release: the migrations changed since the plan was approved; re-plan (${
        drift.join("; ")
      })`,
    );
  }
  run.pending = now;
  return { summary: `${approved.length} migration(s) as approved` };
}

/** `backup`: a verified backup of the target before anything changes (production). */
async function takeBackup(run: Run): Promise<StepResult> {
  if (!run.deps.backup) return { status: "skipped", summary: "this environment takes no backup" };
  return await run.deps.backup();
}

/** `db_push`: the revert scripts recorded, then `supabase db push`. */
async function pushSchema(run: Run): Promise<StepResult> {
  if (!plannedMigrations(run.plan ?? undefined).length && !run.pending.length) {
    return { status: "skipped", summary: "no pending migrations" };
  }
  const reverts = await run.deps.recordReverts(run.pending);
  const out = await run.deps.supabase.dbPush({ dryRun: false });
  const applied = out.split("\n").filter((l) => /^Applying migration /.test(l)).length;
  return { summary: `applied ${applied} migration(s); ${reverts}` };
}

/** `secrets`: the target's function secrets (names recorded, never values). */
async function setSecrets(run: Run): Promise<StepResult> {
  const secrets = await run.deps.functionSecrets();
  await run.deps.supabase.setSecrets(secrets);
  return { summary: `set ${Object.keys(secrets).sort().join(", ")}` };
}

/** `functions_deploy`: `supabase functions deploy --use-api`. */
async function deployFunctions(run: Run): Promise<StepResult> {
  const out = await run.deps.supabase.deployFunctions();
  const names = [...out.matchAll(/Deployed Functions? on project [^:]*: (.+)/g)].map((m) =>
    m[1].trim()
  );
  return { summary: names.length ? `deployed ${names.join(", ")}` : "deployed" };
}

/** `apply`: the promotion (drift-checked, validated, rolled back on a failed check). */
async function applyPromotion(run: Run): Promise<StepResult> {
  const p = run.promotion;
  if (!p) return { status: "skipped", summary: "no promotion" };
  if (p.status === "succeeded") return { summary: "applied earlier" };
  const out = await run.deps.ops("promotion.apply", { params: { id: p.id } });
  run.promotion = { ...p, ...out.promotion };
  if (out.promotion.status !== "succeeded") {
    const failed = out.validation.filter((v) => !v.passed).map((v) => v.name);
    throw new ReleaseStepError(
      "apply_failed",
      `Cannot release: promotion ${p.id} ended ${out.promotion.status}${
        failed.length ? ` (failed checks: ${failed.join(", ")}; rolled back)` : ""
      }${out.promotion.failure ? `: ${JSON.stringify(out.promotion.failure)}` : ""}`,
    );
  }
  return { summary: `promotion ${p.id} succeeded; ${out.validation.length} check(s) passed` };
}

/** `validate`: every check again, standalone (the data's scopes). */
async function validateTarget(run: Run): Promise<StepResult> {
  const scope = run.req.scope.filter((s) => !CARRIED_SCOPES.includes(s));
  const out = await run.deps.ops("validate", { body: { source: run.req.source, scope } });
  if (!out.passed) {
    const failed = out.results.filter((r) => !r.passed).map((r) => r.name);
    throw new ReleaseStepError(
      "validation_failed",
      `Cannot release: checks failed: ${failed.join(", ")}`,
    );
  }
  return { summary: `${out.results.length} check(s) passed` };
}

/** `watch`: the applied release watched; a breach rolled it back (the step fails). */
async function watchRelease(run: Run): Promise<StepResult> {
  const w = await run.deps.watch();
  if (!w) return { status: "skipped", summary: "no watch window in this environment" };
  if (w.outcome !== "passed") {
    throw new ReleaseStepError(`watch_${w.outcome}`, `Cannot release: ${w.summary}`);
  }
  return { summary: w.summary };
}

/** The steps that change the target, in order, once the plan is approved. */
const CHANGE_STEPS: [string, (run: Run) => Promise<StepResult>][] = [
  ["schema_check", checkSchema],
  ["backup", takeBackup],
  ["db_push", pushSchema],
  ["secrets", setSecrets],
  ["functions_deploy", deployFunctions],
  ["apply", applyPromotion],
  ["validate", validateTarget],
  ["watch", watchRelease],
];

/**
 * Runs (or continues) a release.
 *
 * @example
 * ```ts
 * const out = await runRelease({ source: "development", target: "staging", scope }, deps);
 * Deno.exit(out.exitCode);
 * ```
 */
export async function runRelease(req: ReleaseRequest, deps: ReleaseDeps): Promise<ReleaseOutcome> {
  const rec = deps.record;
  const run: Run = { req, deps, promotion: null, plan: null, pending: [] };
  const outcome = (exitCode: 0 | 1 | 3, extra: Partial<ReleaseOutcome> = {}): ReleaseOutcome => ({
    release: rec.row,
    promotion: run.promotion,
    plan: run.plan,
    exitCode,
    unchanged: false,
    ...extra,
  });
  if (rec.row.status === "succeeded" || rec.row.status === "nothing_to_release") {
    deps.log(`release ${rec.row.id} of ${rec.row.git_sha.slice(0, 12)} already ${rec.row.status}`);
    return outcome(0, { unchanged: true });
  }
  if (rec.row.status === "rolled_back") {
    return outcome(1, {
      unchanged: true,
      code: "rolled_back",
      error: `Cannot release ${
        rec.row.git_sha.slice(0, 12)
      } into ${rec.row.environment} again: release ${rec.row.id} was rolled back; fix forward with a new commit`,
    });
  }
  if (rec.row.promotion_id) {
    run.promotion = (await deps.ops("promotion.show", { params: { id: rec.row.promotion_id } }))
      .promotion;
    run.plan = run.promotion.plan ?? null;
  }
  try {
    await step(run, "migrations", listPending);
    await step(run, "plan", recordPlan);
    // Nothing to promote and no schema: code alone may still have changed (deployed below).
    if (!run.promotion && req.planOnly && rec.stepStatus("plan") === "skipped") {
      await rec.status("nothing_to_release");
      return outcome(0);
    }
    if (await awaitApproval(run)) return outcome(3);
    if (req.planOnly) {
      deps.log("plan only: stopping before any change");
      return outcome(0);
    }
    for (const [name, fn] of CHANGE_STEPS) await step(run, name, fn);
    await rec.status("succeeded");
    return outcome(0);
  } catch (err) {
    const e = err as Error & { code?: string };
    // A watch ends the release itself (rolled_back, or failed needing a restore).
    await rec.refresh();
    const now: string = rec.row.status;
    if (now !== "rolled_back" && now !== "failed") {
      await rec.status("failed");
    }
    return outcome(1, { error: e.message, code: e.code });
  }
}

async function waitForApproval(
  req: ReleaseRequest,
  deps: ReleaseDeps,
  promotion: ReleasePromotion,
): Promise<ReleasePromotion> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const deadline = Date.now() + (req.waitMs ?? 0);
  let p = promotion;
  for (;;) {
    p = (await deps.ops("promotion.show", { params: { id: p.id } })).promotion;
    if (p.status !== "awaiting_approval" || Date.now() >= deadline) return p;
    deps.log(`approval: waiting for promotion ${p.id} (${p.required_approvals} required)`);
    await sleep(Math.min(req.pollMs ?? 10_000, Math.max(0, deadline - Date.now())));
  }
}
