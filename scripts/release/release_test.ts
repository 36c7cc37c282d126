import assert from "node:assert/strict";
import {
  OPS_ROUTES,
  type OpsAnswer,
  type OpsRequest,
  type OpsRouteName,
  routePath,
} from "../../supabase/functions/_shared/api/contract.ts";
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import type { ReleaseRow, ReleaseStep } from "./record.ts";
import {
  type ReleaseDeps,
  type ReleaseLog,
  type ReleasePromotion,
  type ReleaseRequest,
  runRelease,
  schemaDrift,
} from "./release.ts";

/** An in-memory release log with the target's semantics (re-opening on a running step). */
function memoryLog(): ReleaseLog & { statuses: string[] } {
  const row: ReleaseRow = {
    id: "r1",
    environment: "production",
    source_env: "staging",
    git_sha: "abcdef1",
    started_by: "user:test",
    promotion_id: null,
    status: "running",
    steps: [],
  };
  const statuses: string[] = [];
  return {
    row,
    statuses,
    stepStatus: (name) => row.steps.find((s) => s.name === name)?.status,
    step(name, status, summary = null, promotionId = null) {
      if (promotionId) row.promotion_id = promotionId;
      const entry: ReleaseStep = { name, status, summary };
      const i = row.steps.findIndex((s) => s.name === name);
      if (i >= 0) row.steps[i] = entry;
      else row.steps.push(entry);
      if (status === "running" && ["failed", "waiting_approval"].includes(row.status)) {
        row.status = "running";
      }
      return Promise.resolve();
    },
    status(status) {
      row.status = status;
      statuses.push(status);
      return Promise.resolve();
    },
    refresh: () => Promise.resolve(),
  };
}

const MIGRATION: PendingMigration = {
  version: "20261203000100",
  name: "add_x",
  sha256: "a".repeat(64),
  findings: [],
};

/** A fake target: its ops API, Supabase CLI and checkout, with a call log. */
function fakeWorld(opts: {
  requiredApprovals: number;
  pending?: PendingMigration[];
  backup?: boolean;
  watch?: "passed" | "rolled_back";
}) {
  const calls: string[] = [];
  let pending = opts.pending ?? [];
  const promotion: ReleasePromotion = {
    id: "p1",
    status: opts.requiredApprovals ? "awaiting_approval" : "approved",
    risk: "high",
    plan_hash: "h".repeat(64),
    required_approvals: opts.requiredApprovals,
    plan: {
      format: "stagecoach.plan",
      version: 1,
      source: "staging",
      target: "production",
      scope: ["config", "schema"],
      options: { include_flag_state: false },
      risk: "high",
      summary: { create: 1, update: 0, delete: 0, retire: 0, replace: 0, archive: 0 },
      changes: pending.map((m) => ({
        kind: "schema_migrations" as const,
        key: `${m.version}_${m.name}`,
        action: "create" as const,
        risk: "low" as const,
        reasons: [],
        before: null,
        after: { ...m, findings: [] },
      })),
      kept: [],
    },
  };
  const deps = (log: ReleaseLog): ReleaseDeps => ({
    record: log,
    pendingMigrations: () => Promise.resolve(pending),
    // A fake of the wire: answers are cast, as a test's stand-in for the function may.
    ops: <N extends OpsRouteName>(name: N, request: OpsRequest<N>) => {
      const { params } = request as { params?: Record<string, string> };
      const path = routePath(name, params);
      const answer = (body: unknown) => Promise.resolve(body as OpsAnswer<N>);
      calls.push(`${OPS_ROUTES[name].method} ${path}`);
      if (path === "/promotions") return answer({ empty: false, promotion });
      if (path === "/promotions/p1") return answer({ promotion });
      if (path === "/promotions/p1/apply") {
        promotion.status = "succeeded";
        return answer({ promotion, validation: [], rolled_back: false });
      }
      if (path === "/validate") return answer({ passed: true, results: [] });
      throw new Error(`unexpected ${path}`);
    },
    supabase: {
      dbPush: ({ dryRun }) => {
        calls.push(dryRun ? "db push --dry-run" : "db push");
        if (!dryRun) pending = [];
        return Promise.resolve("Applying migration 20261203000100_add_x.sql...\n");
      },
      setSecrets: (s) => {
        calls.push(`secrets set ${Object.keys(s).join(",")}`);
        return Promise.resolve("");
      },
      deployFunctions: () => {
        calls.push("functions deploy");
        return Promise.resolve("Deployed Functions on project x: ops, ops-worker\n");
      },
    },
    functionSecrets: () => Promise.resolve({ STAGECOACH_ENV: "production" }),
    ...(opts.backup
      ? {
        backup: () => {
          calls.push("backup create+verify");
          return Promise.resolve({ summary: "backup b1 verified" });
        },
      }
      : {}),
    recordReverts: (m) => {
      calls.push(`record reverts ${m.map((x) => x.version).join(",")}`);
      return Promise.resolve(`${m.length} revert script(s) recorded`);
    },
    watch: () => {
      if (!opts.watch) return Promise.resolve(null);
      calls.push("watch");
      if (opts.watch === "rolled_back") log.row.status = "rolled_back";
      return Promise.resolve({
        outcome: opts.watch,
        summary: opts.watch === "passed" ? "3 healthy sample(s)" : "rolled back by the watch",
      });
    },
    log: () => {},
  });
  return {
    calls,
    promotion,
    deps,
    editPending: (m: PendingMigration[]) => (pending = m),
  };
}

const REQ: ReleaseRequest = {
  source: "staging",
  target: "production",
  scope: ["config", "schema"],
};

Deno.test("runRelease: waits for approval (exit 3), then a re-run continues to the end", async () => {
  const world = fakeWorld({ requiredApprovals: 2, pending: [MIGRATION] });
  const log = memoryLog();
  const first = await runRelease(REQ, world.deps(log));
  assert.equal(first.exitCode, 3);
  assert.equal(log.row.status, "waiting_approval");
  assert.equal(log.stepStatus("approval"), "waiting");
  assert.ok(!world.calls.includes("db push"), "nothing changes before approval");

  world.promotion.status = "approved";
  world.calls.length = 0;
  const second = await runRelease(REQ, world.deps(log));
  assert.equal(second.exitCode, 0);
  assert.equal(log.row.status, "succeeded");
  assert.deepEqual(world.calls, [
    "GET /promotions/p1",
    "GET /promotions/p1",
    "record reverts 20261203000100",
    "db push",
    "secrets set STAGECOACH_ENV",
    "functions deploy",
    "POST /promotions/p1/apply",
    "POST /validate",
  ]);
  assert.deepEqual(log.row.steps.map((s) => `${s.name}:${s.status}`), [
    "migrations:succeeded",
    "plan:succeeded",
    "approval:succeeded",
    "schema_check:succeeded",
    "backup:skipped",
    "db_push:succeeded",
    "secrets:succeeded",
    "functions_deploy:succeeded",
    "apply:succeeded",
    "validate:succeeded",
    "watch:skipped",
  ]);
});

Deno.test("runRelease: production takes a verified backup before changing anything and is watched", async () => {
  const world = fakeWorld({
    requiredApprovals: 0,
    pending: [MIGRATION],
    backup: true,
    watch: "passed",
  });
  const log = memoryLog();
  const out = await runRelease(REQ, world.deps(log));
  assert.equal(out.exitCode, 0);
  const order = world.calls.filter((c) =>
    !/^(GET|POST \/promotions$)/.test(c) && !c.includes("dry-run")
  );
  assert.deepEqual(order.slice(0, 3), [
    "backup create+verify",
    "record reverts 20261203000100",
    "db push",
  ]);
  assert.equal(order.at(-1), "watch");
  assert.equal(log.stepStatus("watch"), "succeeded");
  assert.equal(log.row.status, "succeeded");
});

Deno.test("runRelease: a watch that rolled back fails the release and a re-run changes nothing", async () => {
  const world = fakeWorld({ requiredApprovals: 0, pending: [MIGRATION], watch: "rolled_back" });
  const log = memoryLog();
  const out = await runRelease(REQ, world.deps(log));
  assert.equal(out.exitCode, 1);
  assert.equal(out.code, "watch_rolled_back");
  assert.equal(log.row.status, "rolled_back", "the watch's status stands");
  world.calls.length = 0;
  const again = await runRelease(REQ, world.deps(log));
  assert.equal(again.exitCode, 1);
  assert.equal(again.unchanged, true);
  assert.match(again.error!, /was rolled back; fix forward/);
  assert.deepEqual(world.calls, []);
});

Deno.test("runRelease: a finished release run again changes nothing", async () => {
  const world = fakeWorld({ requiredApprovals: 0 });
  const log = memoryLog();
  assert.equal((await runRelease(REQ, world.deps(log))).exitCode, 0);
  world.calls.length = 0;
  const again = await runRelease(REQ, world.deps(log));
  assert.equal(again.exitCode, 0);
  assert.equal(again.unchanged, true);
  assert.deepEqual(world.calls, []);
});

Deno.test("runRelease: a migration edited after approval is plan_drift, nothing applied", async () => {
  const world = fakeWorld({ requiredApprovals: 1, pending: [MIGRATION] });
  const log = memoryLog();
  assert.equal((await runRelease(REQ, world.deps(log))).exitCode, 3);
  world.promotion.status = "approved";
  world.editPending([{ ...MIGRATION, sha256: "b".repeat(64) }]);
  const out = await runRelease(REQ, world.deps(log));
  assert.equal(out.exitCode, 1);
  assert.equal(out.code, "plan_drift");
  assert.match(out.error!, /20261203000100_add_x: edited since approval/);
  assert.equal(log.row.status, "failed");
  assert.ok(!world.calls.some((c) => c === "db push" || c.includes("apply")));
});

Deno.test("runRelease: plan only stops before any change", async () => {
  const world = fakeWorld({ requiredApprovals: 0, pending: [MIGRATION] });
  const log = memoryLog();
  const out = await runRelease({ ...REQ, planOnly: true }, world.deps(log));
  assert.equal(out.exitCode, 0);
  assert.ok(!world.calls.some((c) => c === "db push" || c.includes("apply")));
  assert.equal(log.stepStatus("approval"), "succeeded");
});

Deno.test("schemaDrift: names added, removed and edited migrations", () => {
  const other = { ...MIGRATION, version: "20261203000200", name: "add_y" };
  assert.deepEqual(schemaDrift([MIGRATION], [MIGRATION]), []);
  assert.deepEqual(schemaDrift([MIGRATION], [MIGRATION, other]), [
    "20261203000200_add_y: pending but not in the approved plan",
  ]);
  assert.deepEqual(schemaDrift([MIGRATION, other], [other]), [
    "20261203000100_add_x: approved but no longer pending in the checkout",
  ]);
});
