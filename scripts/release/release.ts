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
 * 5. `db_push` — `supabase db push`.
 * 6. `secrets` — the target's function secrets (`supabase secrets set`).
 * 7. `functions_deploy` — `supabase functions deploy --use-api`.
 * 8. `apply` — the promotion (drift-checked, validated, rolled back on a failed check).
 * 9. `validate` — every check, standalone.
 *
 * A re-run of the same commit continues after the last finished step; a finished release run
 * again changes nothing. The I/O is passed in ({@link ReleaseDeps}), so the order and the
 * re-run rules are tested without the world.
 *
 * @module
 */
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import type { Plan } from "../../supabase/functions/_shared/promotion/plan.ts";
import type { Scope } from "../../supabase/functions/_shared/promotion/kinds.ts";
import type { OpsCaller } from "../../supabase/functions/_shared/api/contract.ts";
import type { ReleaseRow, ReleaseStep } from "./record.ts";

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
  return (plan?.changes ?? []).filter((c) => c.kind === "schema_migrations").map((c) => {
    const after = JSON.parse(JSON.stringify(c.after)) as PendingMigration;
    return { ...after, findings: after.findings ?? [] };
  });
}

const FINISHED = new Set(["succeeded", "skipped"]);

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
  const log = deps.log;
  const sleep = deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  let promotion: ReleasePromotion | null = null;
  let plan: Plan | null = null;
  const outcome = (exitCode: 0 | 1 | 3, extra: Partial<ReleaseOutcome> = {}): ReleaseOutcome => ({
    release: rec.row,
    promotion,
    plan,
    exitCode,
    unchanged: false,
    ...extra,
  });

  if (rec.row.status === "succeeded" || rec.row.status === "nothing_to_release") {
    log(`release ${rec.row.id} of ${rec.row.git_sha.slice(0, 12)} already ${rec.row.status}`);
    return outcome(0, { unchanged: true });
  }
  if (rec.row.promotion_id) {
    const recorded = (await deps.ops("promotion.show", {
      params: { id: rec.row.promotion_id },
    })).promotion;
    promotion = recorded;
    plan = recorded.plan ?? null;
  }

  /** Runs a step unless it already finished; records running → succeeded/skipped/failed. */
  async function step(
    name: string,
    fn: () => Promise<{ status?: "succeeded" | "skipped"; summary: string }>,
  ): Promise<void> {
    if (FINISHED.has(rec.stepStatus(name) ?? "")) {
      log(`${name}: done earlier`);
      return;
    }
    await rec.step(name, "running");
    log(`${name}: running`);
    const t0 = performance.now();
    try {
      const r = await fn();
      await rec.step(name, r.status ?? "succeeded", r.summary, promotion?.id ?? null);
      log(
        `${name}: ${r.status ?? "succeeded"} — ${r.summary} (${
          Math.round(performance.now() - t0)
        } ms)`,
      );
    } catch (err) {
      const e = err as Error & { code?: string };
      await rec.step(name, "failed", e.message.slice(0, 2000), promotion?.id ?? null);
      log(`${name}: failed — ${e.message}`);
      throw err;
    }
  }

  let pending: PendingMigration[] = [];
  try {
    await step("migrations", async () => {
      pending = await deps.pendingMigrations();
      const findings = pending.reduce((n, m) => n + m.findings.length, 0);
      const dry = pending.length ? await deps.supabase.dbPush({ dryRun: true }) : "";
      if (dry) log(dry.trim());
      return {
        summary: pending.length
          ? `${pending.length} pending (${
            pending.map((m) => `${m.version}_${m.name}`).join(", ")
          }); ${findings} lint finding(s)`
          : "none pending",
      };
    });

    await step("plan", async () => {
      if (promotion) return { summary: `promotion ${promotion.id} (recorded earlier)` };
      // The migrations step may have finished in an earlier run: list them again.
      if (!pending.length) pending = await deps.pendingMigrations();
      const out = await deps.ops("promotion.plan", {
        body: {
          source: req.source,
          scope: req.scope,
          ...(req.scope.includes("schema") ? { migrations: pending } : {}),
        },
      });
      if (!("promotion" in out)) {
        plan = out.plan;
        return { status: "skipped", summary: "nothing to promote: the target matches the source" };
      }
      promotion = out.promotion;
      plan = out.promotion.plan ?? null;
      return {
        summary: `promotion ${promotion.id}: ${
          plan?.changes.length ?? "?"
        } change(s), risk ${promotion.risk}, ${promotion.required_approvals} approval(s) required`,
      };
    });

    if (!promotion && rec.stepStatus("plan") === "skipped") {
      // Nothing to promote and no schema: code alone may still have changed (deploy below).
      if (req.planOnly) {
        await rec.status("nothing_to_release");
        return outcome(0);
      }
    }

    if (promotion) {
      const awaited = await waitForApproval(req, deps, promotion, sleep);
      promotion = awaited;
      if (awaited.status === "awaiting_approval" || awaited.status === "planned") {
        await rec.step(
          "approval",
          "waiting",
          `${awaited.required_approvals} approval(s) required; approve with stagecoach promote approve ${awaited.id} --env ${req.target}`,
          awaited.id,
        );
        await rec.status("waiting_approval");
        return outcome(3);
      }
      await step("approval", () => {
        if (!["approved", "applying", "succeeded"].includes(awaited.status)) {
          throw new ReleaseStepError(
            "not_approved",
            `Cannot release: promotion ${awaited.id} is ${awaited.status}`,
          );
        }
        return Promise.resolve({ summary: `promotion ${awaited.id} is ${awaited.status}` });
      });
    } else {
      await step(
        "approval",
        () => Promise.resolve({ status: "skipped" as const, summary: "no promotion to approve" }),
      );
    }
    if (req.planOnly) {
      log("plan only: stopping before any change");
      return outcome(0);
    }

    await step("schema_check", async () => {
      const now = await deps.pendingMigrations();
      const approved = plannedMigrations(plan ?? undefined);
      const drift = schemaDrift(approved, now);
      if (drift.length) {
        throw new ReleaseStepError(
          "plan_drift",
          `Cannot release: the migrations changed since the plan was approved; re-plan (${
            drift.join("; ")
          })`,
        );
      }
      pending = now;
      return { summary: `${approved.length} migration(s) as approved` };
    });

    await step("db_push", async () => {
      if (!plannedMigrations(plan ?? undefined).length && !pending.length) {
        return { status: "skipped", summary: "no pending migrations" };
      }
      const out = await deps.supabase.dbPush({ dryRun: false });
      const applied = out.split("\n").filter((l) => /^Applying migration /.test(l)).length;
      return { summary: `applied ${applied} migration(s)` };
    });

    await step("secrets", async () => {
      const secrets = await deps.functionSecrets();
      await deps.supabase.setSecrets(secrets);
      return { summary: `set ${Object.keys(secrets).sort().join(", ")}` };
    });

    await step("functions_deploy", async () => {
      const out = await deps.supabase.deployFunctions();
      const names = [...out.matchAll(/Deployed Functions? on project [^:]*: (.+)/g)].map((m) =>
        m[1].trim()
      );
      return { summary: names.length ? `deployed ${names.join(", ")}` : "deployed" };
    });

    await step("apply", async () => {
      if (!promotion) return { status: "skipped", summary: "no promotion" };
      if (promotion.status === "succeeded") return { summary: "applied earlier" };
      const out = await deps.ops("promotion.apply", { params: { id: promotion.id } });
      promotion = { ...promotion, ...out.promotion };
      if (out.promotion.status !== "succeeded") {
        const failed = out.validation.filter((v) => !v.passed).map((v) => v.name);
        throw new ReleaseStepError(
          "apply_failed",
          `Cannot release: promotion ${promotion.id} ended ${out.promotion.status}${
            failed.length ? ` (failed checks: ${failed.join(", ")}; rolled back)` : ""
          }${out.promotion.failure ? `: ${JSON.stringify(out.promotion.failure)}` : ""}`,
        );
      }
      return {
        summary: `promotion ${promotion.id} succeeded; ${out.validation.length} check(s) passed`,
      };
    });

    await step("validate", async () => {
      const out = await deps.ops("validate", {
        body: { source: req.source, scope: req.scope.filter((s) => s !== "schema") },
      });
      if (!out.passed) {
        throw new ReleaseStepError(
          "validation_failed",
          `Cannot release: checks failed: ${
            out.results.filter((r) => !r.passed).map((r) => r.name).join(", ")
          }`,
        );
      }
      return { summary: `${out.results.length} check(s) passed` };
    });

    await rec.status("succeeded");
    return outcome(0);
  } catch (err) {
    const e = err as Error & { code?: string };
    await rec.status("failed");
    return outcome(1, { error: e.message, code: e.code });
  }
}

async function waitForApproval(
  req: ReleaseRequest,
  deps: ReleaseDeps,
  promotion: ReleasePromotion,
  sleep: (ms: number) => Promise<void>,
): Promise<ReleasePromotion> {
  const deadline = Date.now() + (req.waitMs ?? 0);
  let p = promotion;
  for (;;) {
    p = (await deps.ops("promotion.show", { params: { id: p.id } })).promotion;
    if (p.status !== "awaiting_approval" || Date.now() >= deadline) return p;
    deps.log(`approval: waiting for promotion ${p.id} (${p.required_approvals} required)`);
    await sleep(Math.min(req.pollMs ?? 10_000, Math.max(0, deadline - Date.now())));
  }
}
