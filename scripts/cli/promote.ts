/**
 * `stagecoach promote plan|show|approve|reject|apply|rollback` and `stagecoach validate`:
 * thin clients of the target environment's `ops` function.
 *
 * @module
 */
import {
  DEFAULT_SCOPES,
  parseScopeList,
  type Scope,
  SCOPES,
} from "../../supabase/functions/_shared/promotion/kinds.ts";
import {
  type Promotion,
  TRANSFER_KEY_HEADER,
} from "../../supabase/functions/_shared/api/contract.ts";
import { renderPlan } from "../../supabase/functions/_shared/promotion/render.ts";
import { readTransferKey } from "../../supabase/functions/_shared/config/transfer_key.ts";
import { callOps, resolveToken } from "./api.ts";
import { type Command, envOption, parseCommand, required, UsageError } from "./command.ts";

const color = () => Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");

function scopeOption(value: string | undefined): Scope[] {
  if (value === undefined) return [...DEFAULT_SCOPES];
  try {
    return parseScopeList(value);
  } catch (err) {
    throw new UsageError(`Invalid --scope "${value}": ${(err as Error).message}`);
  }
}

/** The options of commands that compare a source and a target (`promote plan`, `validate`). */
const PAIR_OPTIONS = {
  from: { type: "string" },
  to: { type: "string" },
  scope: { type: "string" },
  "include-flag-state": { type: "boolean" },
  as: { type: "string" },
  json: { type: "boolean" },
} as const;

/** `--from`, `--to` and `--scope`, parsed. @throws {UsageError} for a missing or bad one */
function envPair(values: { from?: string; to?: string; scope?: string }) {
  return {
    from: envOption(required(values.from, "--from")),
    to: envOption(required(values.to, "--to")),
    scope: scopeOption(values.scope),
  };
}

const AS_HELP =
  "  --as <email>        act as this user of the target (local stack); else STAGECOACH_TOKEN";

function statusLine(p: Promotion): string {
  return `promotion ${p.id}: ${p.status} (risk ${p.risk}, ${p.required_approvals} approval(s) required)`;
}

/** `promote plan`. */
export const promotePlanCommand: Command = {
  name: "promote plan",
  summary: "Plan a promotion between environments and record it in the target",
  usage:
    `usage: stagecoach promote plan --from <env> --to <env> [--scope config,tiers,flags] [--dry-run]
                               [--include-flag-state] [--as <email>] [--json]

Reads both environments, prints the diff (kind, key, action, risk, before → after; secrets as
fingerprints only) and records the plan in the target as a promotion awaiting approval (or
approved, when the target's policy needs none). An empty plan records nothing.

options:
  --from <env>          source environment
  --to <env>            target environment (where the promotion is recorded)
  --scope <list>        what to promote: ${SCOPES.join(",")} (default: ${DEFAULT_SCOPES.join(",")})
  --include-flag-state  also promote flags' enabled and rollout_percent
  --dry-run             show the plan only; record nothing
${AS_HELP}
  --json                print the API answer as JSON
  -h, --help`,
  async run(args) {
    const parsed = parseCommand(
      this,
      args,
      { ...PAIR_OPTIONS, "dry-run": { type: "boolean" } },
      [],
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const { from, to, scope } = envPair(values);
    if (from.name === to.name) throw new UsageError("--from and --to must differ");
    const token = await resolveToken(to, values.as);
    const out = await callOps(to, "promotion.plan", {
      token,
      body: {
        source: from.name,
        scope,
        include_flag_state: values["include-flag-state"] ?? false,
        dry_run: values["dry-run"] ?? false,
      },
    });
    if (values.json) {
      console.log(JSON.stringify(out, null, 2));
      return 0;
    }
    const plan = "promotion" in out ? out.promotion.plan : out.plan;
    console.log(renderPlan(plan, { color: color(), hash: out.plan_hash }));
    if (values["dry-run"]) {
      console.log("\nDry run: no promotion recorded.");
    } else if (!("promotion" in out)) {
      console.log("\nNothing to promote: no promotion recorded.");
    } else {
      console.log(`\n${statusLine(out.promotion)}`);
      console.log(`plan hash ${out.plan_hash}`);
    }
    return 0;
  },
};

function idCommand(
  name: string,
  summary: string,
  details: string,
  act: (
    env: ReturnType<typeof envOption>,
    id: string,
    token: string,
    values: Record<string, unknown>,
  ) => Promise<number>,
  extra: Record<string, { type: "string" | "boolean" }> = {},
  extraHelp = "",
): Command {
  return {
    name,
    summary,
    usage: `usage: stagecoach ${name} <promotion id> --env <target env> [options]

${details}

options:
  --env <env>         the target environment (where the promotion is recorded)
${AS_HELP}
${extraHelp ? extraHelp + "\n" : ""}  --json              print the API answer as JSON
  -h, --help`,
    async run(args) {
      const parsed = parseCommand(this, args, {
        env: { type: "string" },
        as: { type: "string" },
        json: { type: "boolean" },
        ...extra,
      }, ["id"]);
      if (!parsed) return 0;
      const env = envOption(parsed.values.env);
      const id = parsed.args.id;
      if (!/^[0-9a-f-]{36}$/i.test(id)) {
        throw new UsageError(`Invalid promotion id "${id}": expected a uuid`);
      }
      return await act(
        env,
        id,
        await resolveToken(env, parsed.values.as as string | undefined),
        parsed.values,
      );
    },
  };
}

function printValidation(
  results: { name?: string; check_name?: string; passed: boolean; details: unknown }[],
) {
  if (!results.length) return;
  console.log("\nvalidation");
  for (const r of results) {
    const mark = r.passed ? "✓" : "✗";
    const d = r.passed ? "" : `  ${JSON.stringify(r.details)}`;
    console.log(`  ${mark} ${r.name ?? r.check_name}${d}`);
  }
}

/** `promote show`. */
export const promoteShowCommand = idCommand(
  "promote show",
  "Show a promotion: plan, status, decisions and validation results",
  "Prints the promotion's plan, its status, who approved or rejected it, and its validation report.",
  async (env, id, token, values) => {
    const out = await callOps(env, "promotion.show", { token, params: { id } });
    if (values.json) {
      console.log(JSON.stringify(out, null, 2));
      return 0;
    }
    const p = out.promotion;
    console.log(renderPlan(p.plan, { color: color(), hash: p.plan_hash }));
    console.log(`\n${statusLine(p)}`);
    for (const a of out.approvals) {
      console.log(
        `  ${a.decision}d by ${a.email ?? "?"} (plan ${a.plan_hash.slice(0, 12)})${
          a.comment ? `: ${a.comment}` : ""
        }`,
      );
    }
    if (p.failure) console.log(`  failure: ${JSON.stringify(p.failure)}`);
    printValidation(out.validation);
    return 0;
  },
);

function decisionCommand(decision: "approve" | "reject"): Command {
  return idCommand(
    `promote ${decision}`,
    decision === "approve"
      ? "Approve a promotion's plan (approvers and admins)"
      : "Reject a promotion",
    `Records your decision bound to the plan hash you reviewed (by default the promotion's
current hash, printed). Nobody decides on their own promotion; the database enforces it.`,
    async (env, id, token, values) => {
      let hash = values["plan-hash"] as string | undefined;
      if (!hash) {
        hash = (await callOps(env, "promotion.show", { token, params: { id } })).promotion
          .plan_hash;
      }
      const out = await callOps(env, `promotion.${decision}`, {
        token,
        params: { id },
        body: { plan_hash: hash, comment: values.comment as string | undefined },
      });
      if (values.json) console.log(JSON.stringify(out, null, 2));
      else console.log(`${decision}d plan ${hash.slice(0, 12)}\n${statusLine(out.promotion)}`);
      return 0;
    },
    { "plan-hash": { type: "string" }, comment: { type: "string" } },
    `  --plan-hash <hash>  the plan hash you reviewed (default: the promotion's)
  --comment <text>    a note kept with the decision`,
  );
}

/** `promote approve` / `promote reject`. */
export const promoteApproveCommand = decisionCommand("approve");
/** `promote reject`. */
export const promoteRejectCommand = decisionCommand("reject");

/** `promote apply`. */
export const promoteApplyCommand = idCommand(
  "promote apply",
  "Apply an approved promotion (atomic, validated, rolled back on failure)",
  `Takes the target's apply lock, re-plans and refuses if the target drifted since approval,
writes every change with its before-image in one transaction, then validates; a failed check
rolls the changes back and the promotion ends failed with the reasons.`,
  async (env, id, token, values) => {
    // A bundle import applies with the transfer key its secrets are sealed under.
    const shown = await callOps(env, "promotion.show", { token, params: { id } });
    const headers: { [TRANSFER_KEY_HEADER]?: string } = {};
    if (shown.promotion.source_env === "bundle") {
      headers[TRANSFER_KEY_HEADER] = await readTransferKey({
        env: Deno.env.toObject(),
        keyFile: values["key-file"] as string | undefined,
      }).catch((err) => {
        throw new UsageError((err as Error).message);
      });
    }
    const out = await callOps(env, "promotion.apply", { token, params: { id }, headers });
    if (values.json) {
      console.log(JSON.stringify(out, null, 2));
    } else {
      console.log(statusLine(out.promotion));
      printValidation(out.validation);
      if (out.rolled_back) console.log("\nA check failed: the changes were rolled back.");
      if (out.promotion.failure) console.log(`failure: ${JSON.stringify(out.promotion.failure)}`);
    }
    return out.promotion.status === "succeeded" ? 0 : 1;
  },
  { "key-file": { type: "string" } },
  "  --key-file <file>   transfer key of a bundle import (default: STAGECOACH_TRANSFER_KEY)",
);

/** `promote rollback`. */
export const promoteRollbackCommand = idCommand(
  "promote rollback",
  "Roll a succeeded promotion back from its snapshots",
  `Restores every row the promotion touched, byte for byte (an approver or admin in production).
Running it again changes nothing; it is refused while later promotions touched the same keys.`,
  async (env, id, token, values) => {
    const out = await callOps(env, "promotion.rollback", { token, params: { id } });
    if (values.json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(
        out.changed
          ? `restored ${out.restored_rows} row(s)`
          : "already rolled back: nothing changed",
      );
      console.log(statusLine(out.promotion));
    }
    return 0;
  },
);

/** `validate`. */
export const validateCommand: Command = {
  name: "validate",
  summary: "Check parity and integrity of a target against a source (standalone)",
  usage:
    `usage: stagecoach validate --from <env> --to <env> [--scope …] [--include-flag-state] [--as <email>] [--json]

Runs every validation check against the target: parity with the source (what a promotion
would still change), references, config schemas, secrets stored encrypted, flag percentages,
and the team's SQL checks in supabase/validations. Exits 1 when a check fails.

options:
  --from <env>          source environment
  --to <env>            target environment
  --scope <list>        what parity covers (default: config,tiers,flags)
  --include-flag-state  parity includes flags' enabled and rollout_percent
${AS_HELP}
  --json                print the results as JSON
  -h, --help`,
  async run(args) {
    const parsed = parseCommand(this, args, PAIR_OPTIONS, []);
    if (!parsed) return 0;
    const { values } = parsed;
    const { from, to, scope } = envPair(values);
    const out = await callOps(to, "validate", {
      token: await resolveToken(to, values.as),
      body: {
        source: from.name,
        scope,
        include_flag_state: values["include-flag-state"] ?? false,
      },
    });
    if (values.json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(
        `${from.name} → ${to.name}: ${out.passed ? "all checks pass" : "some checks FAIL"}`,
      );
      printValidation(out.results);
    }
    return out.passed ? 0 : 1;
  },
};
