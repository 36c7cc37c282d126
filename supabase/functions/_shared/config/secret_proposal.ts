/**
 * Setting a secret config value. In an environment whose policy needs no approval the value
 * is stored at once (`ops.set_config_secret`, as the caller). Where approval is required, a
 * secret is a promotion like any other change: the value is encrypted under this
 * environment's Vault key, kept with the promotion as a *secret proposal* (its `source_bundle`;
 * no API role can decrypt it), planned against the target as source `secret` (risk high: a
 * secret change always is), approved, and written by the apply path.
 *
 * @module
 */
import { z } from "zod";
import { asCaller } from "../db.ts";
import { ApiError } from "../http.ts";
import { JsonNumber, type JsonObject } from "../json/lossless.ts";
import { SECRET_SOURCE } from "../promotion/kinds.ts";
import type { Row, RowsByKind } from "../promotion/plan.ts";
import { readRows } from "../promotion/read.ts";
import { type ApplyOutcome, applyPromotion } from "../promotion/apply_pipeline.ts";
import {
  type PromotionContext,
  type PromotionRow,
  requireRole,
  toApiError,
} from "../promotion/context.ts";
import { createPromotion } from "../promotion/service.ts";
import { secretFingerprint } from "./bundle.ts";

/** A secret proposal as stored with its promotion (ciphertext under the Vault key). */
const ProposalSchema = z.object({
  format: z.literal("stagecoach.secret_proposal"),
  version: z.literal(1),
  key: z.string(),
  description: z.string().nullable(),
  fingerprint: z.string(),
  ciphertext: z.string(),
});
type Proposal = z.infer<typeof ProposalSchema>;

/** What setting a secret did. */
export interface SetSecretOutcome {
  key: string;
  fingerprint: string;
  /** The promotion that carries it, where approval is required; null when stored at once. */
  promotion: PromotionRow | null;
}

/** The target's config rows with one secret entry replaced (or added) as proposed. */
function proposedRows(target: Row[], p: Omit<Proposal, "ciphertext" | "format" | "version">) {
  const existing = target.find((r) => r.key === p.key);
  const entry = {
    key: p.key,
    value: null,
    description: p.description ?? (existing?.description as string | null) ?? null,
    schema_version: existing?.schema_version ?? new JsonNumber("1"),
    is_secret: true,
    env_specific: existing?.env_specific === true,
    secret_fingerprint: p.fingerprint,
  } as JsonObject;
  return [...target.filter((r) => r.key !== p.key), entry];
}

/**
 * Sets a secret: at once where no approval is needed, otherwise as a high-risk promotion
 * awaiting approval (nothing is written to `app_config` until it is applied).
 *
 * @throws {ApiError} 403 for callers who are not operators or admins
 */
export async function setSecret(
  ctx: PromotionContext,
  entry: { key: string; value: string; description?: string },
): Promise<SetSecretOutcome> {
  await requireRole(ctx, ["operator", "admin"], `set secret ${entry.key}`);
  const [{ gated }] = await ctx.target`select ops.writes_need_approval() as gated`;
  if (!gated) {
    try {
      const [{ fingerprint }] = await asCaller(
        ctx.target,
        ctx.claims,
        (tx) =>
          tx`select ops.set_config_secret(${entry.key}, ${entry.value}, ${
            entry.description ?? null
          }) as fingerprint`,
      );
      return { key: entry.key, fingerprint, promotion: null };
    } catch (err) {
      throw toApiError(err);
    }
  }
  const fingerprint = await secretFingerprint(entry.value);
  // A service path: encryption under the Vault key is no API role's to call.
  const [{ ciphertext }] = await ctx.target`
    select encode(private.encrypt_config_secret(${entry.value}), 'base64') as ciphertext`;
  const proposal: Proposal = {
    format: "stagecoach.secret_proposal",
    version: 1,
    key: entry.key,
    description: entry.description ?? null,
    fingerprint,
    ciphertext,
  };
  const target = (await readRows(ctx.target, ["config"])).config ?? [];
  const created = await createPromotion(
    ctx,
    { source: SECRET_SOURCE, scope: ["config"], includeFlagState: false },
    {
      from: { rows: { config: proposedRows(target, proposal) }, bundle: JSON.stringify(proposal) },
    },
  );
  return { key: entry.key, fingerprint, promotion: created.promotion };
}

/**
 * Applies a secret promotion: the source is the target as it is now with the proposed entry,
 * the plaintext is decrypted from the proposal in memory. A target changed since the plan is
 * drift, as for any promotion.
 */
export async function applySecretPromotion(
  ctx: PromotionContext,
  id: string,
  bundle: string,
): Promise<ApplyOutcome> {
  const parsed = ProposalSchema.safeParse(JSON.parse(bundle));
  if (!parsed.success) {
    throw new ApiError(
      409,
      "conflict",
      `Cannot apply promotion ${id}: its secret proposal is unreadable`,
    );
  }
  const p = parsed.data;
  const [{ plaintext }] = await ctx.target`
    select private.decrypt_config_secret(decode(${p.ciphertext}, 'base64')) as plaintext`;
  // The plan approvers saw names the fingerprint; the value written must be that one.
  if (await secretFingerprint(plaintext as string) !== p.fingerprint) {
    throw new ApiError(
      409,
      "conflict",
      `Cannot apply promotion ${id}: its stored value does not match the fingerprint it was planned with`,
    );
  }
  const target = (await readRows(ctx.target, ["config"])).config ?? [];
  const sourceRows: RowsByKind = { config: proposedRows(target, p) };
  return await applyPromotion(ctx, id, {
    sourceRows,
    plaintexts: new Map([[p.key, plaintext as string]]),
  });
}
