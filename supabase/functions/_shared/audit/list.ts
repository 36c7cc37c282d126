/**
 * Reading the audit log (`ops.audit_log`) page by page, as the caller: RLS lets ops members
 * read it. Who acted is shown by email, read from `auth.users` on the service connection (the
 * caller cannot read it), as `promotion/service.ts` `showPromotion` names approvers.
 *
 * @module
 */
import type { z } from "zod";
import type { AuditEntrySchema } from "../api/contract.ts";
import { asCaller, type Sql } from "../db.ts";
import type { UserClaims } from "../auth.ts";
import { parseJson } from "../json/lossless.ts";
import { toApiError } from "../promotion/context.ts";

/** An audit entry as the API hands it. */
export type AuditEntry = z.input<typeof AuditEntrySchema>;

/**
 * Lists audit entries, newest first.
 *
 * @param sql the environment's pool (the caller's transaction is opened on it)
 * @param claims the caller
 * @param page `before_id` (entries with a smaller id) and `limit`
 * @returns the entries, `details` exact (lossless JSON)
 * @throws {ApiError} 403 when the database refuses the caller
 * @example
 * ```ts
 * const entries = await listAuditEntries(sql, user, { limit: 50 });
 * ```
 */
export async function listAuditEntries(
  sql: Sql,
  claims: UserClaims,
  page: { before_id?: number; limit: number },
): Promise<AuditEntry[]> {
  try {
    const rows = await asCaller(
      sql,
      claims,
      (tx) =>
        tx<(Omit<AuditEntry, "details" | "actor_email"> & { details: string })[]>`
        select id::text, occurred_at, actor::text, actor_role, action, environment,
               subject_type, subject_id, details::text as details, hash
        from ops.audit_log
        where ${page.before_id ?? null}::bigint is null or id < ${page.before_id ?? null}::bigint
        order by ops.audit_log.id desc
        limit ${page.limit}`,
    );
    const ids = [...new Set(rows.map((r) => r.actor).filter((a): a is string => a !== null))];
    const emails = new Map(
      (ids.length
        ? await sql<{ id: string; email: string | null }[]>`
            select id::text, email from auth.users where id = any(${ids}::uuid[])`
        : []).map((u) => [u.id, u.email]),
    );
    return rows.map((r) => ({
      ...r,
      actor_email: r.actor ? emails.get(r.actor) ?? null : null,
      details: parseJson(r.details),
    }));
  } catch (err) {
    throw toApiError(err);
  }
}
