/**
 * Config and audit routes of the `ops` function (mounted under `/ops`):
 *
 * - `POST /ops/config/export` → `{ bundle, entries, secrets }` (header `x-stagecoach-transfer-key`)
 * - `POST /ops/config/import` `{ bundle, dry_run? }` (same header) → the plan, and the
 *   promotion (applied at once when the target's policy needs no approval)
 * - `PUT /ops/config/secrets/:key` `{ value, description? }` → 200 `{ key, fingerprint, promotion:
 *   null }` when stored at once, or 202 with the promotion that carries it where approval is
 *   required (high risk; applied like any promotion once approved)
 * - `GET /ops/audit/verify` → `{ intact, entries, first_broken_id }`
 *
 * The transfer key travels in a header, is used in memory, and is never stored or logged.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { readCallerClaims, requireUser } from "../_shared/auth.ts";
import { setSecret } from "../_shared/config/secret_proposal.ts";
import { exportBundle, importBundle } from "../_shared/config/transfer.ts";
import { asCaller } from "../_shared/db.ts";
import { ApiError, readJsonBody } from "../_shared/http.ts";
import { toApiError } from "../_shared/promotion/service.ts";
import type { ContextFor } from "./promotions.ts";

/** The header carrying the operator's transfer key. */
export const TRANSFER_KEY_HEADER = "x-stagecoach-transfer-key";

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

const ImportBody = z.object({ bundle: z.string().min(1), dry_run: z.boolean().default(false) });
const SecretBody = z.object({
  value: z.string().min(1),
  description: z.string().max(500).optional(),
});
const ConfigKey = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/).max(128);

/** The config and audit routes. */
export function configRoutes(contextFor: ContextFor) {
  const app = new Hono();
  const ctx = (header: string | undefined) => contextFor(requireUser(readCallerClaims(header)));

  app.post("/config/export", async (c) => {
    const context = ctx(c.req.header("authorization"));
    return c.json(await exportBundle(context, transferKey(c.req.header(TRANSFER_KEY_HEADER))));
  });

  app.post("/config/import", async (c) => {
    const context = ctx(c.req.header("authorization"));
    const key = transferKey(c.req.header(TRANSFER_KEY_HEADER));
    const body = await readJsonBody(c.req.raw, ImportBody);
    const out = await importBundle(context, body.bundle, {
      transferKey: key,
      dryRun: body.dry_run,
    });
    return c.json(out);
  });

  app.put("/config/secrets/:key", async (c) => {
    const context = ctx(c.req.header("authorization"));
    const key = ConfigKey.safeParse(c.req.param("key"));
    if (!key.success) {
      throw new ApiError(
        400,
        "invalid_request",
        `Cannot set secret "${c.req.param("key")}": not a config key`,
      );
    }
    const body = await readJsonBody(c.req.raw, SecretBody);
    const out = await setSecret(context, {
      key: key.data,
      value: body.value,
      description: body.description,
    });
    return c.json(out, out.promotion ? 202 : 200);
  });

  app.get("/audit/verify", async (c) => {
    const context = ctx(c.req.header("authorization"));
    try {
      const [row] = await asCaller(
        context.target,
        context.claims,
        (tx) =>
          tx`select ops.verify_audit_chain()::text as broken, (select count(*)::int from ops.audit_log) as entries`,
      );
      return c.json({
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
