/**
 * Scope `rollback`: the permission to roll one release back (`stagecoach release rollback`):
 * its data promotion from the snapshots, then its migrations' revert scripts. Where the
 * environment requires approval, the rollback is planned as a promotion carrying one change
 * that names the release and the exact revert scripts (their SHA-256), always high risk;
 * approvers approve it as any high-risk change, and the CLI rolls back once it is approved.
 * The plan is made from the target's own record of the release (`ops.releases`,
 * `ops.release_reverts`), never from what a client says.
 *
 * @module
 */
import type { Queryable } from "../db.ts";
import { ApiError } from "../http.ts";
import { type JsonObject, toJsonValue } from "../json/lossless.ts";
import type { PlanChange } from "./plan.ts";

/** The plan change kind of a release rollback. */
export const RELEASE_ROLLBACK_KIND = "release_rollback" as const;

/**
 * The plan change that asks to roll `releaseId` back, read from the target's record.
 *
 * @throws {ApiError} 400 without a release id, 404 for an unknown release, 409 for one that
 * cannot be rolled back (never applied, already rolled back)
 */
export async function releaseRollbackChange(
  target: Queryable,
  releaseId: string | undefined,
): Promise<PlanChange> {
  if (!releaseId) {
    throw new ApiError(
      400,
      "invalid_request",
      "Cannot plan scope rollback: name the release (release_id)",
    );
  }
  const [release] = await target<
    {
      id: string;
      git_sha: string;
      source_env: string;
      status: string;
      promotion_id: string | null;
    }[]
  >`
    select id::text, git_sha, source_env, status, promotion_id::text
    from ops.releases where id = ${releaseId}::uuid`;
  if (!release) {
    throw new ApiError(
      404,
      "not_found",
      `Cannot plan the rollback of release ${releaseId}: no such release`,
    );
  }
  if (!["succeeded", "failed", "watching"].includes(release.status)) {
    throw new ApiError(
      409,
      "conflict",
      `Cannot plan the rollback of release ${releaseId}: it is ${release.status}`,
    );
  }
  const reverts = await target<
    { version: string; name: string; sha256: string | null; loses_data: boolean }[]
  >`
    select version, name, sha256, loses_data from ops.release_reverts
    where release_id = ${releaseId}::uuid order by version desc`;
  return {
    kind: RELEASE_ROLLBACK_KIND,
    key: release.id,
    action: "delete",
    risk: "high",
    reasons: [
      `rolls release ${release.id} (commit ${release.git_sha.slice(0, 12)}) back: ${
        release.promotion_id ? `promotion ${release.promotion_id} from its snapshots, ` : ""
      }${
        reverts.length
          ? `then ${
            reverts.map((r) => `${r.version}_${r.name}`).join(", ")
          } by their revert scripts`
          : "no migrations"
      }`,
    ],
    before: null,
    after: toJsonValue({
      release_id: release.id,
      git_sha: release.git_sha,
      promotion_id: release.promotion_id,
      reverts: reverts.map((r) => ({
        version: r.version,
        name: r.name,
        sha256: r.sha256,
        loses_data: r.loses_data,
      })),
    }) as JsonObject,
  };
}
