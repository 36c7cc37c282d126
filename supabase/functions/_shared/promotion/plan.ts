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
 *   includes it; a flag new to the target arrives disabled; its definition (`targeting_rules`,
 *   `stickiness`, `variants`) travels, and the plan is refused when the source's is invalid.
 *
 * @module
 */
import {
  canonicalJson,
  jsonEqual,
  type JsonObject,
  type JsonValue,
  sha256Hex,
} from "../json/lossless.ts";
import type { ExternalKindName } from "./external.ts";
import {
  type KindName,
  kindsInScope,
  type KindSpec,
  kindSpec,
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

/** Same canonical JSON (a missing field is null), compared without serialising. */
function fieldEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  const x = a ?? null;
  const y = b ?? null;
  if (x === y) return true;
  if (typeof x === "string" && typeof y === "string") return false;
  return jsonEqual(x, y);
}

function same(a: Row, b: Row, fields: string[]): boolean {
  return fields.every((f) => fieldEqual(a[f], b[f]));
}

function differing(a: Row, b: Row, fields: string[]): string[] {
  return fields.filter((f) => !fieldEqual(a[f], b[f]));
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
  if (!includeState && spec.newState) Object.assign(out, spec.newState.values);
  return out;
}

function byKey(spec: KindSpec, rows: Row[] | undefined): Map<string, Row> {
  return new Map((rows ?? []).map((r) => [naturalKey(spec, r), r]));
}

function isSecret(spec: KindSpec, row: Row | null | undefined): boolean {
  return !!spec.secret && row?.[spec.secret.flagField] === true;
}

/** What planning accumulates across kinds (parents are planned before their children). */
interface Planning {
  input: PlanInput;
  changes: PlanChange[];
  kept: KeptRow[];
  refused: string[];
  /** Keys per kind the plan retires or keeps (their children stay). */
  keptParents: Map<KindName, Set<string>>;
  /** Keys per kind the plan deletes (their children go with them). */
  deletedParents: Map<KindName, Set<string>>;
}

/** One key of one kind, as both sides have it. */
interface KeyedRow {
  spec: KindSpec;
  key: string;
  s: Row | undefined;
  t: Row | undefined;
  /** The parent's key (e.g. the tier's slug), for a kind with a parent. */
  parentKey: string | null;
  /** Live memberships the row touches (its own or its parent's), and on which row. */
  live: number;
  liveReason: string;
}

function setOf(map: Map<KindName, Set<string>>, kind: KindName): Set<string> {
  let set = map.get(kind);
  if (!set) map.set(kind, set = new Set());
  return set;
}

function usage(p: Planning, key: string): { memberships: number; live: number } {
  return p.input.tierUsage[key] ?? { memberships: 0, live: 0 };
}

function keyedRow(p: Planning, spec: KindSpec, key: string, s?: Row, t?: Row): KeyedRow {
  const parentKey = spec.parent ? String((s ?? t)![spec.parent.field]) : null;
  const holder = spec.heldByMemberships
    ? { spec, key }
    : spec.parent && kindSpec(spec.parent.kind).heldByMemberships
    ? { spec: kindSpec(spec.parent.kind), key: parentKey! }
    : null;
  const live = holder ? usage(p, holder.key).live : 0;
  const liveReason = holder
    ? `touches live memberships (${live} on ${holder.spec.label} ${holder.key})`
    : "";
  return { spec, key, s, t, parentKey, live, liveReason };
}

/** A row the kind keeps as the target has it (env-specific config). */
function keptByRule(p: Planning, r: KeyedRow): boolean {
  const rule = r.spec.keptWhen;
  // A secret proposal sets one of the target's own entries: nothing crosses environments.
  if (!rule || p.input.source === SECRET_SOURCE) return false;
  if (r.s?.[rule.field] !== true && r.t?.[rule.field] !== true) return false;
  p.kept.push({ kind: r.spec.name, key: r.key, reason: rule.reason });
  return true;
}

/** A row new to the target. */
function planCreate(p: Planning, { spec, key, s, live, liveReason }: KeyedRow): void {
  const secret = isSecret(spec, s);
  const reasons = secret ? ["new secret value"] : [];
  if (live > 0) reasons.push(liveReason);
  if (spec.newState && !p.input.includeFlagState) reasons.push(spec.newState.reason);
  p.changes.push({
    kind: spec.name,
    key,
    action: "create",
    risk: secret || live > 0 ? "high" : "low",
    reasons,
    before: null,
    after: created(spec, s!, p.input.includeFlagState),
  });
}

/**
 * A row held by memberships and gone from the source: retired (or kept when already
 * inactive); refused while a membership is live. False when it has no memberships.
 */
function planRetire(p: Planning, { spec, key, t }: KeyedRow): boolean {
  const held = usage(p, key);
  if (!spec.heldByMemberships || held.memberships === 0) return false;
  const { source, target } = p.input;
  if (held.live > 0) {
    p.refused.push(
      `${spec.label} ${key} is gone from ${source} but has ${held.live} live membership(s) in ${target}`,
    );
    return true;
  }
  setOf(p.keptParents, spec.name).add(key);
  const active = spec.activeField!;
  if (t![active] === false) {
    p.kept.push({ kind: spec.name, key, reason: "retired: inactive, kept for its memberships" });
    return true;
  }
  p.changes.push({
    kind: spec.name,
    key,
    action: "retire",
    risk: "high",
    reasons: [`has ${held.memberships} membership(s): retired instead of deleted`],
    before: t!,
    after: { ...t!, [active]: false },
  });
  return true;
}

/** A row gone from the source: kept under a retired parent, retired, archived or deleted. */
function planRemoval(p: Planning, r: KeyedRow): void {
  const { spec, key, t, parentKey } = r;
  const parentKind = spec.parent?.kind;
  const parentLabel = parentKind ? kindSpec(parentKind).label : "";
  if (parentKey !== null && setOf(p.keptParents, parentKind!).has(parentKey)) {
    p.kept.push({
      kind: spec.name,
      key,
      reason: `its ${parentLabel} ${parentKey} is retired, not deleted`,
    });
    return;
  }
  if (planRetire(p, r)) return;
  const cascade = parentKey !== null && setOf(p.deletedParents, parentKind!).has(parentKey);
  setOf(p.deletedParents, spec.name).add(key);
  const archive = spec.removal === "archive" && !cascade;
  const released = spec.keyFields[0].replaceAll("_", " ");
  p.changes.push({
    kind: spec.name,
    key,
    action: archive ? "archive" : "delete",
    risk: "high",
    reasons: cascade
      ? [`its ${parentLabel} ${parentKey} is deleted`]
      : archive
      ? [`gone from ${p.input.source}: archived (inactive, ${released} released)`]
      : [`gone from ${p.input.source}`],
    before: t!,
    after: archive ? { ...t!, [spec.activeField!]: false, [spec.keyFields[0]]: null } : null,
  });
}

/** A row on both sides: updated in place, or replaced when an immutable field changes. */
function planUpdate(p: Planning, r: KeyedRow, compared: string[]): void {
  const { spec, key, live, liveReason } = r;
  const s = r.s!;
  const t = r.t!;
  if (same(s, t, compared)) return;
  const changed = differing(s, t, compared);
  const reasons = [`changes ${changed.join(", ")}`];
  if (live > 0) reasons.push(liveReason);
  const secret = isSecret(spec, s) || isSecret(spec, t);
  if (secret) reasons.push("secret value changes (fingerprints only)");
  const replace = changed.some((f) => spec.immutableFields.includes(f));
  if (replace && spec.replaceReason) reasons.push(spec.replaceReason);
  p.changes.push({
    kind: spec.name,
    key,
    action: replace ? "replace" : "update",
    risk: live > 0 || secret || spec.alwaysHighRisk ? "high" : "low",
    reasons,
    before: t,
    after: replace ? created(spec, s, p.input.includeFlagState) : merged(spec, s, t, compared),
  });
}

/** Plans every key of one kind. */
function planKind(p: Planning, spec: KindSpec): void {
  const compared = comparedFields(spec, p.input.includeFlagState);
  const source = byKey(spec, p.input.sourceRows[spec.name]);
  const target = byKey(spec, p.input.targetRows[spec.name]);
  for (const key of [...new Set([...source.keys(), ...target.keys()])].sort()) {
    const r = keyedRow(p, spec, key, source.get(key), target.get(key));
    const errors = r.s && spec.rowErrors ? spec.rowErrors(r.s) : [];
    if (errors.length) {
      p.refused.push(`${spec.label} ${key} is invalid in ${p.input.source}: ${errors.join("; ")}`);
      continue;
    }
    if (keptByRule(p, r)) continue;
    if (r.s && !r.t) planCreate(p, r);
    else if (!r.s && r.t) planRemoval(p, r);
    else planUpdate(p, r, compared);
  }
}

/**
 * Plans a promotion. Every rule that depends on a kind is a field of its {@link KindSpec}.
 *
 * @returns the plan; `plan.changes` is empty when the target already matches
 * @throws {PlanRefusedError} when a change would strand live memberships, or a source row is
 *   invalid (a flag's rules)
 * @example
 * ```ts
 * const plan = buildPlan({ source: "staging", target: "production", scope: ["tiers"],
 *   includeFlagState: false, sourceRows, targetRows, tierUsage });
 * ```
 */
export function buildPlan(input: PlanInput): Plan {
  const p: Planning = {
    input,
    changes: [],
    kept: [],
    refused: [],
    keptParents: new Map(),
    deletedParents: new Map(),
  };
  for (const spec of kindsInScope(input.scope)) planKind(p, spec);
  if (p.refused.length) throw new PlanRefusedError(p.refused);
  const changes = [...p.changes, ...(input.external ?? [])];
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
    kept: p.kept,
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
