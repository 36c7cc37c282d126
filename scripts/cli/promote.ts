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
import { AS_OPTION, callOps, resolveToken } from "./api.ts";
import {
  type Command,
  defineCommand,
  envOption,
  type OptionTable,
  type OptionValues,
  parseCommand,
  required,
  UsageError,
} from "./command.ts";

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
  from: { type: "string", value: "<env>", help: "source environment", required: true },
  to: { type: "string", value: "<env>", help: "target environment", required: true },
  scope: {
    type: "string",
    value: "<list>",
    help: `what it covers: ${SCOPES.join(",")}\n(default: ${DEFAULT_SCOPES.join(",")})`,
  },
  "include-flag-state": {
    type: "boolean",
    help: "flags' enabled and rollout_percent too (else they stay as in the target)",
  },
} as const satisfies OptionTable;

/** `--from`, `--to` and `--scope`, parsed. @throws {UsageError} for a missing or bad one */
function envPair(values: { from?: string; to?: string; scope?: string }) {
  return {
    from: envOption(required(values.from, "--from")),
    to: envOption(required(values.to, "--to")),
    scope: scopeOption(values.scope),
  };
}

function statusLine(p: Promotion): string {
  return `promotion ${p.id}: ${p.status} (risk ${p.risk}, ${p.required_approvals} approval(s) required)`;
}

/** How many changes `promote plan` prints (and asks the server for) unless `--all`. */
export const PLAN_PAGE = 200;

/** `promote plan`. */
export const promotePlanCommand = defineCommand({
  name: "promote plan",
  summary: "Plan a promotion between environments and record it in the target",
  description:
    `Reads both environments, prints the diff (kind, key, action, risk, before → after; secrets as
fingerprints only) and records the plan in the target (--to) as a promotion awaiting approval
(or approved, when the target's policy needs none). An empty plan records nothing. It prints
the first ${PLAN_PAGE} changes and counts the rest (the server sends no more); --all, --json and
\`promote show\` give the whole plan.`,
  options: {
    ...PAIR_OPTIONS,
    "dry-run": { type: "boolean", help: "show the plan only; record nothing" },
    all: { type: "boolean", help: `print every change (default: the first ${PLAN_PAGE})` },
    as: AS_OPTION,
    json: { type: "boolean", help: "print the API answer as JSON (the whole plan)" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
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
        ...(values.all || values.json ? {} : { changes_limit: PLAN_PAGE }),
      },
    });
    if (values.json) {
      console.log(JSON.stringify(out, null, 2));
      return 0;
    }
    const plan = "promotion" in out ? out.promotion.plan : out.plan;
    const id = "promotion" in out ? out.promotion.id : undefined;
    console.log(
      renderPlan(plan, { color: color(), hash: out.plan_hash, omitted: out.omitted, id }),
    );
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
});

/** The options every command on one promotion takes. */
const ID_OPTIONS = {
  env: {
    type: "string",
    value: "<env>",
    help: "the target environment (where the promotion is recorded)",
    required: true,
  },
  as: AS_OPTION,
  json: { type: "boolean", help: "print the API answer as JSON" },
} as const satisfies OptionTable;

/** A command on one promotion: `<promotion id> --env <target>`, plus its own options. */
function idCommand<E extends OptionTable>(spec: {
  name: string;
  summary: string;
  description: string;
  options: E;
  act: (
    env: ReturnType<typeof envOption>,
    id: string,
    token: string,
    values: OptionValues<typeof ID_OPTIONS> & OptionValues<E>,
  ) => Promise<number>;
}): Command<typeof ID_OPTIONS & E> {
  return defineCommand({
    name: spec.name,
    summary: spec.summary,
    args: "<promotion id>",
    description: spec.description,
    // Its own options before who acts and how it prints.
    options: { env: ID_OPTIONS.env, ...spec.options, as: ID_OPTIONS.as, json: ID_OPTIONS.json },
    async run(args) {
      const parsed = parseCommand(this, args, ["id"]);
      if (!parsed) return 0;
      // The same values, split by table: TypeScript cannot see through the generic spread.
      const values = parsed.values as OptionValues<typeof ID_OPTIONS> & OptionValues<E>;
      const env = envOption(values.env);
      const id = parsed.args.id;
      if (!/^[0-9a-f-]{36}$/i.test(id)) {
        throw new UsageError(`Invalid promotion id "${id}": expected a uuid`);
      }
      return await spec.act(env, id, await resolveToken(env, values.as), values);
    },
  });
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
export const promoteShowCommand = idCommand({
  name: "promote show",
  summary: "Show a promotion: plan, status, decisions and validation results",
  description:
    "Prints the promotion's plan, its status, who approved or rejected it, and its validation report.",
  options: {},
  act: async (env, id, token, values) => {
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
});

function decisionCommand(decision: "approve" | "reject") {
  return idCommand({
    name: `promote ${decision}`,
    summary: decision === "approve"
      ? "Approve a promotion's plan (approvers and admins)"
      : "Reject a promotion",
    description:
      `Records your decision bound to the plan hash you reviewed (by default the promotion's
current hash, printed). Nobody decides on their own promotion; the database enforces it.`,
    options: {
      "plan-hash": {
        type: "string",
        value: "<hash>",
        help: "the plan hash you reviewed (default: the promotion's)",
      },
      comment: { type: "string", value: "<text>", help: "a note kept with the decision" },
    },
    act: async (env, id, token, values) => {
      let hash = values["plan-hash"];
      if (!hash) {
        hash = (await callOps(env, "promotion.show", { token, params: { id } })).promotion
          .plan_hash;
      }
      const out = await callOps(env, `promotion.${decision}`, {
        token,
        params: { id },
        body: { plan_hash: hash, comment: values.comment },
      });
      if (values.json) console.log(JSON.stringify(out, null, 2));
      else console.log(`${decision}d plan ${hash.slice(0, 12)}\n${statusLine(out.promotion)}`);
      return 0;
    },
  });
}

/** `promote approve` / `promote reject`. */
export const promoteApproveCommand = decisionCommand("approve");
/** `promote reject`. */
export const promoteRejectCommand = decisionCommand("reject");

/** `promote apply`. */
export const promoteApplyCommand = idCommand({
  name: "promote apply",
  summary: "Apply an approved promotion (atomic, validated, rolled back on failure)",
  description:
    `Takes the target's apply lock, re-plans and refuses if the target drifted since approval,
writes every change with its before-image in one transaction, then validates; a failed check
rolls the changes back and the promotion ends failed with the reasons.`,
  options: {
    "key-file": {
      type: "string",
      value: "<file>",
      help: "transfer key of a bundle import (default: STAGECOACH_TRANSFER_KEY)",
    },
  },
  act: async (env, id, token, values) => {
    // A bundle import applies with the transfer key its secrets are sealed under.
    const shown = await callOps(env, "promotion.show", { token, params: { id } });
    const headers: { [TRANSFER_KEY_HEADER]?: string } = {};
    if (shown.promotion.source_env === "bundle") {
      headers[TRANSFER_KEY_HEADER] = await readTransferKey({
        env: Deno.env.toObject(),
        keyFile: values["key-file"],
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
});

/** `promote rollback`. */
export const promoteRollbackCommand = idCommand({
  name: "promote rollback",
  summary: "Roll a succeeded promotion back from its snapshots",
  description:
    `Restores every row the promotion touched, byte for byte (an approver or admin in production).
Running it again changes nothing; it is refused while later promotions touched the same keys.`,
  options: {},
  act: async (env, id, token, values) => {
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
});

/** `validate`. */
export const validateCommand = defineCommand({
  name: "validate",
  summary: "Check parity and integrity of a target against a source (standalone)",
  description:
    `Runs every validation check against the target (--to): parity with the source (what a
promotion would still change), references, config schemas, secrets stored encrypted, flag
percentages, and the team's SQL checks in supabase/validations. Exits 1 when a check fails.`,
  options: {
    ...PAIR_OPTIONS,
    as: AS_OPTION,
    json: { type: "boolean", help: "print the results as JSON" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
    if (!parsed) return 0;
    const { values } = parsed;
    const { from, to, scope } = envPair(values);
    const token = await resolveToken(to, values.as);
    const out = await callOps(to, "validate", {
      token,
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
});
