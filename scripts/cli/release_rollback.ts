/**
 * `stagecoach release rollback <release-id> --env <env>`: undoes a release — its data promotion
 * from the snapshots, then its migrations' revert scripts in reverse order, in one transaction
 * with the repair of the migration history (`_shared/release/rollback.ts`, the engine the
 * watch uses too).
 *
 * Approved like any high-risk change: the rollback is first planned as a promotion of scope
 * `rollback` naming the release and its revert scripts (`promotion/rollback_scope.ts`); where
 * the environment requires approvals (production) the command stops with exit code 3 and the
 * approve commands, and once approved, run again, it rolls back. Where none are required the
 * promotion is approved at once and the rollback follows. A release with a migration that
 * only a restore undoes (no revert script, or `-- stagecoach: loses-data`) is refused before
 * anything changes, naming the restore command. Running it again changes nothing.
 *
 * exit codes: 0 rolled back (or already), 1 refused or failed, 2 usage, 3 waiting for approval
 *
 * @module
 */
import postgres from "postgres";
import { readCallerClaims } from "../../supabase/functions/_shared/auth.ts";
import { RELEASE_ROLLBACK_KIND } from "../../supabase/functions/_shared/promotion/rollback_scope.ts";
import {
  blockedReverts,
  loadRollbackRelease,
  ReleaseRollbackError,
  restoreCommand,
  rollbackRelease,
  systemRevertData,
} from "../../supabase/functions/_shared/release/rollback.ts";
import { AS_OPTION, callOps, resolveToken } from "./api.ts";
import { defineCommand, envOption, parseCommand, UsageError } from "./command.ts";
import { functionSecrets } from "./target.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface RollbackPromotion {
  id: string;
  status: string;
  required_approvals: number;
  plan_hash: string;
}

/** The newest rollback promotion of this release still usable (awaiting or approved). */
async function findRollbackPromotion(
  db: postgres.Sql,
  releaseId: string,
  given: string | undefined,
): Promise<RollbackPromotion | null> {
  const rows = await db<RollbackPromotion[]>`
    select id::text, status::text, required_approvals, plan_hash from ops.promotions
    where 'rollback' = any (scope)
      and plan->'changes' @> ${
    JSON.stringify([{ kind: RELEASE_ROLLBACK_KIND, key: releaseId }])
  }::text::jsonb
      and (${given ?? null}::uuid is null or id = ${given ?? null}::uuid)
      and status in ('awaiting_approval', 'approved')
      and (expires_at is null or expires_at > now())
    order by created_at desc limit 1`;
  return rows[0] ?? null;
}

/** `stagecoach release rollback` */
export const releaseRollbackCommand = defineCommand({
  name: "release rollback",
  summary: "Roll a release back: its promotion, then its migrations' revert scripts",
  args: "<release-id>",
  description:
    `Rolls the release back in --env: its data promotion from the snapshots, then the revert
scripts recorded with its migrations, newest first, in one transaction that also removes them
from the migration history. The rollback is planned as a promotion of scope rollback; where the
environment requires approvals it waits for them (exit 3; run it again once approved). A release
with a migration only a restore undoes (no revert script, or a revert that loses data) is
refused with the backup restore command, and nothing changes.

exit codes: 0 rolled back (or already), 1 refused or failed, 2 usage, 3 waiting for approval`,
  options: {
    env: { type: "string", value: "<env>", help: "the environment released into", required: true },
    promotion: {
      type: "string",
      value: "<id>",
      help: "the approved rollback promotion (default: the newest one of this release)",
    },
    as: AS_OPTION,
    json: { type: "boolean", help: "print the outcome as JSON" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, ["release-id"]);
    if (!parsed) return 0;
    const v = parsed.values;
    const releaseId = parsed.args["release-id"];
    if (!UUID.test(releaseId)) {
      throw new UsageError(`Invalid <release-id>: "${releaseId}" is not a uuid`);
    }
    if (v.promotion !== undefined && !UUID.test(v.promotion)) {
      throw new UsageError(`Invalid --promotion: "${v.promotion}" is not a uuid`);
    }
    const env = envOption(v.env);
    const token = await resolveToken(env, v.as);
    const say = (line: string) => (v.json ? console.error(line) : console.log(line));
    const db = postgres(env.dbUrl, {
      max: 2,
      prepare: false,
      connect_timeout: 10,
      onnotice: () => {},
    });
    const done = (code: number, out: Record<string, unknown>) => {
      if (v.json) console.log(JSON.stringify({ release_id: releaseId, ...out }, null, 2));
      return code;
    };
    try {
      const { release, reverts } = await loadRollbackRelease(db, releaseId);
      if (release.status === "rolled_back") {
        say(`release ${releaseId} is already rolled back; nothing to do`);
        return done(0, { status: "rolled_back", changed: false });
      }
      const blocked = blockedReverts(reverts);
      if (blocked.length) {
        const message = `Cannot roll back release ${releaseId}: ${
          blocked.join("; ")
        }. Nothing was changed; restore the backup taken before the release instead: ${
          restoreCommand(release)
        }`;
        console.error(message);
        return done(1, { status: release.status, code: "restore_required", error: message });
      }
      let promotion = await findRollbackPromotion(db, releaseId, v.promotion);
      if (!promotion) {
        if (v.promotion) {
          throw new Error(
            `Cannot roll back release ${releaseId} with promotion ${v.promotion}: it is not an approved or pending rollback of this release`,
          );
        }
        const [{ source_env }] = await db<{ source_env: string }[]>`
          select source_env from ops.releases where id = ${releaseId}::uuid`;
        const out = await callOps(env, "promotion.plan", {
          token,
          body: { source: source_env, scope: ["rollback"], release_id: releaseId },
        });
        if (!("promotion" in out)) throw new Error("Cannot plan the rollback: the plan was empty");
        promotion = await findRollbackPromotion(db, releaseId, out.promotion.id);
        say(
          `planned rollback promotion ${out.promotion.id} (risk ${out.promotion.risk}, ${out.promotion.required_approvals} approval(s) required)`,
        );
      }
      if (!promotion) {
        throw new Error(`Cannot roll back release ${releaseId}: its rollback promotion is gone`);
      }
      if (promotion.status !== "approved") {
        say(
          `waiting for ${promotion.required_approvals} approval(s) of rollback promotion ${promotion.id}; approve with: stagecoach promote approve ${promotion.id} --env ${env.name}, then run this again`,
        );
        return done(3, { status: release.status, promotion_id: promotion.id, waiting: true });
      }
      const by = actor(token, promotion.id);
      const out = await rollbackRelease(db, {
        releaseId,
        trigger: "manual",
        by,
        revertData: systemRevertData(db, {
          targetEnv: env.name,
          stripeEnv: await functionSecrets(env),
          supabaseUrl: env.apiUrl,
        }),
        log: say,
      });
      await db`select 1 from ops.record_release_step(${releaseId}::uuid, 'rollback', 'succeeded', ${`rolled back by ${by}: ${
        out.data ? `${out.data.restored_rows} row(s) restored` : "no data"
      }; ${
        out.schema?.reverted.length
          ? `reverted ${out.schema.reverted.join(", ")}`
          : "no migrations reverted"
      }`})`;
      await db`select 1 from ops.set_release_status(${releaseId}::uuid, 'rolled_back')`;
      say(`release ${releaseId}: rolled_back`);
      return done(0, { status: "rolled_back", changed: true, promotion_id: promotion.id, ...out });
    } catch (err) {
      if (err instanceof ReleaseRollbackError) {
        console.error(err.message);
        return done(1, { code: err.code, error: err.message });
      }
      throw err;
    } finally {
      await db.end({ timeout: 2 });
    }
  },
});

/** Who rolls back: the user behind the token, and the approved promotion that allows it. */
function actor(token: string, promotionId: string): string {
  try {
    const claims = readCallerClaims(`Bearer ${token}`);
    return `user:${claims.email ?? claims.sub ?? "unknown"} (promotion ${promotionId})`;
  } catch {
    return `promotion ${promotionId}`;
  }
}
