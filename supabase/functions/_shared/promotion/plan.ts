/**
 * The planner: given the promotable rows of a source and a target, what must change in the
 * target, how risky each change is, and what stays. Pure: values in, values out.
 *
 * Rules (beyond "make the target equal the source"):
 * - environment-specific config entries never overwrite the target: they are listed as kept;
 * - a tier with memberships in the target is never deleted: it is retired (inactive) when
 *   none of them is live, and the plan is refused when live memberships would lose their
 *   tier; deactivating a tier that has live memberships is allowed (members keep it, as a
 *   grandfathered plan) but high risk;
 * - prices are immutable: a changed tier, amount, currency or interval replaces the price
 *   (a new row takes the lookup key, the old one is archived); a price gone from the source
 *   is archived, never deleted; `stripe_price_id` never crosses;
 * - flag state (`enabled`, `rollout_percent`) stays as in the target unless the plan
 *   includes it; a flag new to the target arrives disabled.
 *
 * @module
 */
import {
  canonicalJson,
  JsonNumber,
  type JsonObject,
  type JsonValue,
  sha256Hex,
} from "../json/lossless.ts";
import type { ExternalKindName } from "./external.ts";
import {
  type KindName,
  kindsInScope,
  type KindSpec,
  naturalKey,
  type Scope,
  SECRET_SOURCE,
} from "./kinds.ts";

/** A logical row of a kind (see kinds.ts). */
export type Row = JsonObject;
/** Rows of each kind. */
export type RowsByKind = Partial<Record<KindName, Row[]>>;
/** Memberships per tier slug in the target: all of them, and the live ones. */
export type TierUsage = Record<string, { memberships: number; live: number }>;

/** What a change does to the target. */
export type Action = "create" | "update" | "delete" | "retire" | "replace" | "archive";
/** low: creates and harmless updates; high: deletes, price and secret changes, live members. */
export type Risk = "low" | "high";

/** One change of a plan. Secret values never appear: only their fingerprints. */
export interface PlanChange {
  kind: KindName | ExternalKindName;
  key: string;
  action: Action;
  risk: Risk;
  reasons: string[];
  before: Row | null;
  after: Row | null;
}

/** A row the plan leaves alone on purpose, and why. */
export interface KeptRow {
  kind: KindName | ExternalKindName;
  key: string;
  reason: string;
}

/** A plan: canonical JSON; its SHA-256 is what approvals bind to. */
export interface Plan {
  format: "stagecoach.plan";
  version: 1;
  source: string;
  target: string;
  scope: Scope[];
  options: { include_flag_state: boolean };
  risk: "none" | Risk;
  summary: Record<Action, number>;
  changes: PlanChange[];
  kept: KeptRow[];
}

/** What {@link buildPlan} reads. */
export interface PlanInput {
  source: string;
  target: string;
  scope: Scope[];
  includeFlagState: boolean;
  sourceRows: RowsByKind;
  targetRows: RowsByKind;
  tierUsage: TierUsage;
  /** Changes of external systems (external.ts), planned by them; appended in order. */
  external?: PlanChange[];
}

/** The plan cannot be made: applying it would break the target (e.g. live memberships). */
export class PlanRefusedError extends Error {
  /** One line per refused change. */
  readonly reasons: string[];
  constructor(reasons: string[]) {
    super(`Cannot plan promotion: ${reasons.join("; ")}`);
    this.name = "PlanRefusedError";
    this.reasons = reasons;
  }
}

function pick(row: Row, fields: string[]): Row {
  const out: Row = {};
  for (const f of fields) out[f] = row[f] ?? null;
  return out;
}

function same(a: Row, b: Row, fields: string[]): boolean {
  return canonicalJson(pick(a, fields)) === canonicalJson(pick(b, fields));
}

function differing(a: Row, b: Row, fields: string[]): string[] {
  return fields.filter((f) => canonicalJson(a[f] ?? null) !== canonicalJson(b[f] ?? null));
}

/** Fields compared between source and target for a kind. */
function comparedFields(spec: KindSpec, includeState: boolean): string[] {
  return spec.fields.map((f) => f.name).filter((f) =>
    !spec.envSpecific.includes(f) && (includeState || !spec.stateFields.includes(f))
  );
}

/** The target row after an update: source content, target's env-specific and kept state. */
function merged(spec: KindSpec, source: Row, target: Row, compared: string[]): Row {
  const out: Row = { ...target };
  for (const f of compared) out[f] = source[f] ?? null;
  return pick(out, spec.fields.map((f) => f.name));
}

/** The row a create writes: env-specific fields empty, state off unless included. */
function created(spec: KindSpec, source: Row, includeState: boolean): Row {
  const out = pick(source, spec.fields.map((f) => f.name));
  for (const f of spec.envSpecific) out[f] = null;
  if (!includeState && spec.name === "flags") {
    out.enabled = false;
    out.rollout_percent = new JsonNumber("0");
  }
  return out;
}

function byKey(spec: KindSpec, rows: Row[] | undefined): Map<string, Row> {
  return new Map((rows ?? []).map((r) => [naturalKey(spec, r), r]));
}

function isSecret(spec: KindSpec, row: Row | null | undefined): boolean {
  return !!spec.secret && row?.[spec.secret.flagField] === true;
}

/**
 * Plans a promotion.
 *
 * @returns the plan; `plan.changes` is empty when the target already matches
 * @throws {PlanRefusedError} when a change would strand live memberships
 * @example
 * ```ts
 * const plan = buildPlan({ source: "staging", target: "production", scope: ["tiers"],
 *   includeFlagState: false, sourceRows, targetRows, tierUsage });
 * ```
 */
export function buildPlan(input: PlanInput): Plan {
  const changes: PlanChange[] = [];
  const kept: KeptRow[] = [];
  const refused: string[] = [];
  const usage = (slug: string) => input.tierUsage[slug] ?? { memberships: 0, live: 0 };
  // Tiers the plan retires or keeps (children stay) and deletes (children go with them).
  const keptTiers = new Set<string>();
  const deletedTiers = new Set<string>();

  for (const spec of kindsInScope(input.scope)) {
    const compared = comparedFields(spec, input.includeFlagState);
    const source = byKey(spec, input.sourceRows[spec.name]);
    const target = byKey(spec, input.targetRows[spec.name]);
    const keys = [...new Set([...source.keys(), ...target.keys()])].sort();

    for (const key of keys) {
      const s = source.get(key);
      const t = target.get(key);
      const parentSlug = spec.parent ? String((s ?? t)![spec.parent.field]) : null;
      const live = parentSlug
        ? usage(parentSlug).live
        : spec.name === "tiers"
        ? usage(key).live
        : 0;
      const liveReason = `touches live memberships (${live} on tier ${parentSlug ?? key})`;

      if (
        spec.name === "config" && input.source !== SECRET_SOURCE &&
        (s?.env_specific === true || t?.env_specific === true)
      ) {
        kept.push({
          kind: spec.name,
          key,
          reason: "environment-specific: the target keeps its own",
        });
        continue;
      }

      if (s && !t) {
        const secret = isSecret(spec, s);
        const reasons = secret ? ["new secret value"] : [];
        if (live > 0) reasons.push(liveReason);
        changes.push({
          kind: spec.name,
          key,
          action: "create",
          risk: secret || live > 0 ? "high" : "low",
          reasons: spec.name === "flags" && !input.includeFlagState
            ? [
              ...reasons,
              "arrives disabled (flag state is not promoted without --include-flag-state)",
            ]
            : reasons,
          before: null,
          after: created(spec, s, input.includeFlagState),
        });
        continue;
      }

      if (!s && t) {
        if (parentSlug && keptTiers.has(parentSlug)) {
          kept.push({
            kind: spec.name,
            key,
            reason: `its tier ${parentSlug} is retired, not deleted`,
          });
          continue;
        }
        if (spec.name === "tiers" && usage(key).memberships > 0) {
          if (usage(key).live > 0) {
            refused.push(
              `tier ${key} is gone from ${input.source} but has ${
                usage(key).live
              } live membership(s) in ${input.target}`,
            );
            continue;
          }
          keptTiers.add(key);
          if (t.active === false) {
            kept.push({
              kind: spec.name,
              key,
              reason: "retired: inactive, kept for its memberships",
            });
            continue;
          }
          changes.push({
            kind: spec.name,
            key,
            action: "retire",
            risk: "high",
            reasons: [`has ${usage(key).memberships} membership(s): retired instead of deleted`],
            before: t,
            after: { ...t, active: false },
          });
          continue;
        }
        const cascade = parentSlug !== null && deletedTiers.has(parentSlug);
        if (spec.name === "tiers") deletedTiers.add(key);
        const archive = spec.removal === "archive" && !cascade;
        changes.push({
          kind: spec.name,
          key,
          action: archive ? "archive" : "delete",
          risk: "high",
          reasons: cascade
            ? [`its tier ${parentSlug} is deleted`]
            : archive
            ? [`gone from ${input.source}: archived (inactive, lookup key released)`]
            : [`gone from ${input.source}`],
          before: t,
          after: archive ? { ...t, active: false, [spec.keyFields[0]]: null } : null,
        });
        continue;
      }

      if (!s || !t || same(s, t, compared)) continue;

      const changed = differing(s, t, compared);
      const reasons = [`changes ${changed.join(", ")}`];
      let risk: Risk = "low";
      if (live > 0) {
        risk = "high";
        reasons.push(liveReason);
      }
      if (isSecret(spec, s) || isSecret(spec, t)) {
        risk = "high";
        reasons.push("secret value changes (fingerprints only)");
      }
      if (spec.name === "tier_prices") risk = "high";
      const replace = changed.some((f) => spec.immutableFields.includes(f));
      changes.push({
        kind: spec.name,
        key,
        action: replace ? "replace" : "update",
        risk,
        reasons: replace
          ? [...reasons, "prices are immutable: a new price takes the lookup key"]
          : reasons,
        before: t,
        after: replace ? created(spec, s, input.includeFlagState) : merged(spec, s, t, compared),
      });
    }
  }

  if (refused.length) throw new PlanRefusedError(refused);
  changes.push(...(input.external ?? []));

  const summary: Record<Action, number> = {
    create: 0,
    update: 0,
    delete: 0,
    retire: 0,
    replace: 0,
    archive: 0,
  };
  for (const c of changes) summary[c.action]++;
  return {
    format: "stagecoach.plan",
    version: 1,
    source: input.source,
    target: input.target,
    scope: [...input.scope].sort() as Scope[],
    options: { include_flag_state: input.includeFlagState },
    risk: changes.length === 0 ? "none" : changes.some((c) => c.risk === "high") ? "high" : "low",
    summary,
    changes,
    kept,
  };
}

/** The SHA-256 of a plan's canonical JSON: what approvals bind to. */
export async function planHash(plan: Plan): Promise<string> {
  return (await canonicalPlan(plan)).hash;
}

/** A plan's canonical JSON text and its SHA-256, computed once for storing and hashing. */
export async function canonicalPlan(plan: Plan): Promise<{ text: string; hash: string }> {
  const text = canonicalJson(plan as unknown as JsonValue);
  return { text, hash: await sha256Hex(text) };
}

/**
 * Explains how a recomputed plan differs from the approved one (for drift errors).
 *
 * @returns one line per change that appeared, disappeared or differs; empty when equal
 */
export function planDifferences(approved: Plan, current: Plan): string[] {
  const index = (p: Plan) => new Map(p.changes.map((c) => [`${c.kind} ${c.key}`, c]));
  const a = index(approved);
  const b = index(current);
  const lines: string[] = [];
  for (const [id, c] of a) {
    const now = b.get(id);
    if (!now) lines.push(`${id}: no longer needed (the target already has it)`);
    else if (
      canonicalJson(c as unknown as JsonValue) !== canonicalJson(now as unknown as JsonValue)
    ) {
      lines.push(
        now.action === c.action
          ? `${id}: the target changed since approval (${c.action} differs)`
          : `${id}: was ${c.action}, now ${now.action}`,
      );
    }
  }
  for (const id of b.keys()) {
    if (!a.has(id)) lines.push(`${id}: new change not in the approved plan`);
  }
  return lines;
}
