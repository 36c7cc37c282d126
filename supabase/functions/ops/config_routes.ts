/**
 * Config and audit routes of the `ops` function (mounted under `/ops`):
 *
 * - `POST /ops/config/export` → `{ bundle, entries, secrets }` (header `x-stagecoach-transfer-key`)
 * - `POST /ops/config/import` `{ bundle, dry_run? }` (same header) → the plan, and the
 *   promotion (applied at once when the target's policy needs no approval)
 * - `PUT /ops/config/secrets/:key` `{ value, description? }` → 200 `{ key, fingerprint, promotion:
 *   null }` when stored at once, or 202 with the promotion that carries it where approval is
 *   required (high risk; applied like any promotion once approved)
 * - `GET /ops/audit?before_id=&limit=` → `{ entries }`, newest first (actors by email)
 * - `GET /ops/audit/verify` → `{ intact, entries, first_broken_id }`
 *
 * The transfer key travels in a header, is used in memory, and is never stored or logged.
 *
 * @module
 */
import { Hono } from "hono";
import { TRANSFER_KEY_HEADER } from "../_shared/api/contract.ts";
import { reply, serveRoute } from "../_shared/api/route.ts";
import { setSecret } from "../_shared/config/secret_proposal.ts";
import { exportBundle, importBundle } from "../_shared/config/transfer.ts";
import { listAuditEntries } from "../_shared/audit/list.ts";
import { asCaller } from "../_shared/db.ts";
import { ApiError } from "../_shared/http.ts";
import { toApiError } from "../_shared/promotion/service.ts";
import type { ContextFor } from "./promotions.ts";

/** Reads the transfer key header. @throws {ApiError} 400 when it is missing */
export function transferKey(header: string | undefined): string {
  if (!header) {
    throw new ApiError(
      400,
      "transfer_key_required",
      `Cannot use a bundle: send the transfer key in ${TRANSFER_KEY_HEADER}`,
    );
  }
  return header;
}

/** The config and audit routes; requests and answers are the contract's. */
export function configRoutes(contextFor: ContextFor) {
  const app = new Hono();

  serveRoute(app, "config.export", async ({ user, headers }) => {
    const context = contextFor(user);
    return reply(200, await exportBundle(context, transferKey(headers[TRANSFER_KEY_HEADER])));
  });

  serveRoute(app, "config.import", async ({ user, headers, body }) => {
    const context = contextFor(user);
    const key = transferKey(headers[TRANSFER_KEY_HEADER]);
    return reply(
      200,
      await importBundle(context, body.bundle, { transferKey: key, dryRun: body.dry_run }),
    );
  });

  serveRoute(app, "config.set_secret", async ({ user, params, body }) => {
    const out = await setSecret(contextFor(user), {
      key: params.key,
      value: body.value,
      description: body.description,
    });
    return out.promotion ? reply(202, out) : reply(200, out);
  });

  serveRoute(app, "audit.list", async ({ user, query }) => {
    const entries = await listAuditEntries(contextFor(user).target, user, query);
    return reply(200, { entries });
  });

  serveRoute(app, "audit.verify", async ({ user }) => {
    const context = contextFor(user);
    try {
      const [row] = await asCaller(
        context.target,
        context.claims,
        (tx) =>
          tx<{ broken: string | null; entries: number }[]>`
            select ops.verify_audit_chain()::text as broken,
                   (select count(*)::int from ops.audit_log) as entries`,
      );
      return reply(200, {
        intact: row.broken === null,
        entries: row.entries,
        first_broken_id: row.broken,
      });
    } catch (err) {
      throw toApiError(err);
    }
  });

  return app;
}
