/**
 * A plan as a readable diff: one line per change with its action, risk and reasons, the
 * changed fields with before → after, and what the plan keeps. Coloured for a terminal,
 * plain otherwise. Pure: values in, text out.
 *
 * @module
 */
import { canonicalJson, type JsonValue } from "../json/lossless.ts";
import { KINDS } from "./kinds.ts";
import type { Plan, PlanChange } from "./plan.ts";
import { MigrationRevert, SCHEMA_KIND } from "./schema.ts";

const SIGNS: Record<string, string> = {
  create: "+",
  update: "~",
  delete: "-",
  retire: "~",
  replace: "±",
  archive: "-",
};
const COLORS: Record<string, number> = {
  create: 32,
  update: 33,
  delete: 31,
  retire: 35,
  replace: 35,
  archive: 31,
};

function short(value: JsonValue | undefined, width = 70): string {
  const text = canonicalJson(value ?? null);
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** How a pending migration is undone: its revert script, or only a restore. */
function revertLine(value: JsonValue): string {
  const parsed = MigrationRevert.safeParse(value);
  if (!parsed.success) return "no revert: restore only";
  const { file, loses_data, reason } = parsed.data;
  if (loses_data) return `revert: ${file} (loses data: ${reason ?? "declared"}) — restore only`;
  // A revert that drops only transient state says so (`transient: …`): approvers see the claim.
  return reason ? `revert: ${file} (${reason})` : `revert: ${file}`;
}

function fieldLines(c: PlanChange): string[] {
  const spec = KINDS.find((k) => k.name === c.kind);
  // External kinds (Stripe) have no description here: show the fields their rows carry.
  const fields = spec
    ? spec.fields.map((f) => f.name).filter((f) => !spec.keyFields.includes(f))
    : [...new Set([...Object.keys(c.before ?? {}), ...Object.keys(c.after ?? {})])];
  if (c.kind === SCHEMA_KIND && c.after) {
    // A migration's revert is read as a sentence; `revert: null` (none) is shown, not skipped.
    const lines = fields.filter((f) => f !== "revert" && c.after![f] !== null)
      .map((f) => `${f}: ${short(c.after![f])}`);
    return "revert" in c.after ? [...lines, revertLine(c.after.revert)] : lines;
  }
  if (c.action === "create") {
    return fields.filter((f) => c.after?.[f] !== null && c.after?.[f] !== undefined)
      .map((f) => `${f}: ${short(c.after![f])}`);
  }
  if (c.action === "delete") return [];
  return fields.filter((f) =>
    canonicalJson(c.before?.[f] ?? null) !== canonicalJson(c.after?.[f] ?? null)
  )
    .map((f) => `${f}: ${short(c.before?.[f], 34)} → ${short(c.after?.[f], 34)}`);
}

/** Changes a plan answer left out (see {@link pagePlan}). */
export interface Omitted {
  changes: number;
  high_risk: number;
}

/**
 * The first `limit` changes of a plan (in plan order), and what was left out: a plan answer
 * need not carry megabytes the client would only count. Every other field stays (summary and
 * risk are the whole plan's).
 *
 * @example
 * ```ts
 * const { plan: page, omitted } = pagePlan(plan, 200); // omitted: { changes: 14446, high_risk: 400 }
 * ```
 */
export function pagePlan(plan: Plan, limit?: number): { plan: Plan; omitted?: Omitted } {
  if (limit === undefined || plan.changes.length <= limit) return { plan };
  const rest = plan.changes.slice(limit);
  return {
    plan: { ...plan, changes: plan.changes.slice(0, limit) },
    omitted: { changes: rest.length, high_risk: rest.filter((c) => c.risk === "high").length },
  };
}

/**
 * Renders a plan.
 *
 * @param opts.color ANSI colours (for a terminal)
 * @param opts.omitted changes the plan answer left out (a line says how many, and how to see them)
 * @example
 * ```ts
 * console.log(renderPlan(plan, { color: Deno.stdout.isTerminal() }));
 * ```
 */
export function renderPlan(
  plan: Plan,
  opts: { color: boolean; hash?: string; omitted?: Omitted; id?: string },
): string {
  const paint = (code: number, s: string) => opts.color ? `\x1b[${code}m${s}\x1b[0m` : s;
  const dim = (s: string) => paint(2, s);
  const lines: string[] = [];
  const risk = plan.risk === "high"
    ? paint(31, "HIGH")
    : plan.risk === "low"
    ? paint(32, "low")
    : "none";
  lines.push(
    `Plan ${plan.source} → ${plan.target}  scope: ${plan.scope.join(", ")}  risk: ${risk}` +
      (opts.hash ? `  hash: ${opts.hash.slice(0, 12)}` : ""),
  );
  if (plan.options.include_flag_state) lines.push(dim("  (flag state included)"));
  if (!plan.changes.length) {
    lines.push("  No changes: the target already matches the source.");
  } else {
    lines.push(
      "  " +
        Object.entries(plan.summary).filter(([, n]) => n > 0).map(([a, n]) => `${n} ${a}`).join(
          " · ",
        ),
    );
  }
  let kind = "";
  for (const c of plan.changes) {
    if (c.kind !== kind) {
      kind = c.kind;
      lines.push("", paint(1, kind));
    }
    const head = paint(COLORS[c.action], `${SIGNS[c.action]} ${c.key}`);
    const riskText = c.risk === "high" ? paint(31, "HIGH") : "low ";
    lines.push(
      `  ${head}  ${c.action}  ${riskText}${
        c.reasons.length ? dim(`  ${c.reasons.join("; ")}`) : ""
      }`,
    );
    for (const f of fieldLines(c)) lines.push(`      ${f}`);
  }
  if (opts.omitted) {
    const { changes, high_risk } = opts.omitted;
    lines.push(
      "",
      dim(`  … ${changes} more change${changes === 1 ? "" : "s"}`) +
        (high_risk ? paint(31, ` (${high_risk} HIGH risk)`) : "") +
        dim(
          opts.id
            ? ` not shown: stagecoach promote show ${opts.id} prints the whole plan`
            : " not shown (--all prints every change)",
        ),
    );
  }
  if (plan.kept.length) {
    lines.push("", paint(1, "kept"));
    for (const k of plan.kept) lines.push(`  = ${k.key} ${dim(`(${k.kind}) ${k.reason}`)}`);
  }
  return lines.join("\n");
}
