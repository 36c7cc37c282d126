/**
 * Config bundles through the pipeline: export this environment's config as a sealed bundle,
 * and import one as a promotion whose source is the bundle (planned, approved per the
 * target's policy, applied with snapshots and validation like any other).
 *
 * The transfer key arrives with the request and is used in memory only: secrets are
 * decrypted with this environment's Vault key and sealed under it at export, and opened with
 * it and re-encrypted under this environment's key at import.
 *
 * @module
 */
import { asCaller } from "../db.ts";
import { ApiError } from "../http.ts";
import { JsonNumber, type JsonObject } from "../json/lossless.ts";
import type { Plan, Row, RowsByKind } from "../promotion/plan.ts";
import { readRows, readSecretPlaintexts } from "../promotion/read.ts";
import { type ApplyOutcome, applyPromotion } from "../promotion/apply_pipeline.ts";
import { BUNDLE_SOURCE, type PromotionContext, type PromotionRow } from "../promotion/context.ts";
import { computePlanFromRows } from "../promotion/planning.ts";
import { createPromotion, promotionSource } from "../promotion/service.ts";
import { BundleError, type ConfigEntry, openBundle, sealBundle } from "./bundle.ts";

async function requireOperator(ctx: PromotionContext, action: string): Promise<void> {
  const [{ ok }] = await asCaller(
    ctx.target,
    ctx.claims,
    (tx) => tx`select ops.has_role('operator', 'admin') as ok`,
  );
  if (!ok) throw new ApiError(403, "forbidden", `Cannot ${action}: only operators and admins may`);
}

function toEntry(row: Row): ConfigEntry {
  return {
    key: row.key as string,
    value: row.is_secret === true ? null : row.value,
    description: (row.description as string | null) ?? null,
    schema_version: Number((row.schema_version as JsonNumber).text),
    env_specific: row.env_specific === true,
    is_secret: row.is_secret === true,
    secret_fingerprint: (row.secret_fingerprint as string | null) ?? null,
  };
}

function toRow(entry: ConfigEntry): Row {
  return {
    key: entry.key,
    value: entry.is_secret ? null : entry.value,
    description: entry.description,
    schema_version: new JsonNumber(String(entry.schema_version)),
    is_secret: entry.is_secret,
    env_specific: entry.env_specific,
    secret_fingerprint: entry.secret_fingerprint,
  } as JsonObject;
}

function bundleFailure(err: unknown): never {
  if (err instanceof BundleError) {
    throw new ApiError(400, `bundle_${err.code}`, err.message, err.details ?? {});
  }
  throw err;
}

/**
 * Seals this environment's config (operators and admins). Where the environment requires
 * approval, a bundle carrying secret values needs an admin: whoever holds the transfer key
 * holds the secrets. Every export is audited with its checksum and counts.
 *
 * @throws {ApiError} 403 for an operator exporting an approval-gated environment's secrets
 */
export async function exportBundle(
  ctx: PromotionContext,
  transferKey: string,
): Promise<{ bundle: string; entries: number; secrets: number }> {
  await requireOperator(ctx, "export config");
  const rows = (await readRows(ctx.target, ["config"])).config ?? [];
  const fingerprints = new Map(
    rows.filter((r) => r.is_secret === true).map((
      r,
    ) => [r.key as string, r.secret_fingerprint as string]),
  );
  if (fingerprints.size) {
    const [{ allowed }] = await asCaller(
      ctx.target,
      ctx.claims,
      (tx) => tx`select not ops.writes_need_approval() or ops.has_role('admin') as allowed`,
    );
    if (!allowed) {
      throw new ApiError(
        403,
        "forbidden",
        `Cannot export config from ${ctx.targetEnv}: it requires approval, and its ${fingerprints.size} secret value(s) may only be exported by an admin`,
      );
    }
  }
  const secrets = await readSecretPlaintexts(ctx.target, fingerprints);
  const bundle = await sealBundle(
    { sourceEnv: ctx.targetEnv, createdAt: new Date(), entries: rows.map(toEntry), secrets },
    transferKey,
  ).catch(bundleFailure);
  const checksum = JSON.parse(bundle).checksum as string;
  // The audit entry is the system's (as the owner), naming the caller from their claims.
  await asCaller(ctx.target, ctx.claims, async (tx) => {
    await tx`reset role`;
    await tx`select ops.append_audit('config.exported', 'config_bundle', ${checksum},
       ${tx.json({ entries: rows.length, secrets: secrets.size })}, ${ctx.targetEnv})`;
  });
  return { bundle, entries: rows.length, secrets: secrets.size };
}

async function openAsSource(text: string, transferKey: string) {
  const opened = await openBundle(text, transferKey).catch(bundleFailure);
  const rows: RowsByKind = { config: opened.entries.map(toRow) };
  return { opened, rows };
}

/** The outcome of an import. */
export interface ImportOutcome {
  dry_run: boolean;
  source_env: string;
  checksum: string;
  plan: Plan;
  plan_hash: string;
  promotion: PromotionRow | null;
  applied: ApplyOutcome | null;
}

/**
 * Imports a bundle: opens it (refusing a tampered, truncated, other-version or wrongly keyed
 * one before anything is written), plans it against this environment, and — unless dry run —
 * records the promotion and applies it at once when the policy needs no approval.
 *
 * @param ctx the caller and this environment
 * @param text the bundle as exported
 * @param opts.transferKey the key the bundle was sealed with
 * @param opts.dryRun plan only; record nothing
 * @throws {ApiError} 400 `bundle_<code>` for a bundle that does not open (nothing written); 403
 * when the caller may not import
 * @example
 * ```ts
 * const out = await importBundle(ctx, body.bundle, { transferKey: key, dryRun: body.dry_run });
 * ```
 */
export async function importBundle(
  ctx: PromotionContext,
  text: string,
  opts: { transferKey: string; dryRun: boolean },
): Promise<ImportOutcome> {
  await requireOperator(ctx, "import config");
  const { opened, rows } = await openAsSource(text, opts.transferKey);
  const req = { source: BUNDLE_SOURCE, scope: ["config" as const], includeFlagState: false };
  if (opts.dryRun) {
    const { plan, hash } = await computePlanFromRows(ctx, req, rows);
    return {
      dry_run: true,
      source_env: opened.sourceEnv,
      checksum: opened.checksum,
      plan,
      plan_hash: hash,
      promotion: null,
      applied: null,
    };
  }
  const created = await createPromotion(ctx, req, { from: { rows, bundle: text } });
  let applied: ApplyOutcome | null = null;
  if (created.promotion?.status === "approved") {
    applied = await applyPromotion(ctx, created.promotion.id, {
      sourceRows: rows,
      plaintexts: opened.secrets,
    });
  }
  return {
    dry_run: false,
    source_env: opened.sourceEnv,
    checksum: opened.checksum,
    plan: created.plan,
    plan_hash: created.plan_hash,
    promotion: applied?.promotion ?? created.promotion,
    applied,
  };
}

/** Applies a bundle-sourced promotion (after approval), given the transfer key again. */
export async function applyBundlePromotion(
  ctx: PromotionContext,
  id: string,
  transferKey: string,
): Promise<ApplyOutcome> {
  const stored = await promotionSource(ctx, id);
  if (!stored) throw new ApiError(404, "not_found", `Cannot find promotion ${id}`);
  const text = stored.bundle;
  if (!text || stored.source_env !== BUNDLE_SOURCE) {
    throw new ApiError(
      400,
      "invalid_request",
      `Cannot apply promotion ${id} with a transfer key: it is not a bundle import`,
    );
  }
  const { opened, rows } = await openAsSource(text, transferKey);
  return await applyPromotion(ctx, id, { sourceRows: rows, plaintexts: opened.secrets });
}
