/**
 * Validation after every apply (and `stagecoach validate`): the built-in checks and the
 * team's own SQL checks, run against the target in one read-only transaction.
 *
 * Built in:
 * - `parity`: re-planning the same promotion finds nothing left to do (every promoted key now
 *   equals the source, by content);
 * - `references`: no feature, price or membership pointing at a tier that does not exist;
 * - `config_schemas`: config values match their registered zod schema (config/schemas.ts);
 * - `secrets_encrypted`: secret entries hold only ciphertext and a fingerprint, and no plain
 *   entry whose key says it is a secret holds a string;
 * - `flag_percentages`: rollout percentages within 0–100.
 *
 * Custom: each `supabase/validations/*.sql` is a query returning offending rows; zero rows
 * passes. They reach the functions embedded in `custom_checks.generated.ts` (written by
 * `scripts/build/custom_checks.ts`), never read from disk at run time: a deployed function has
 * only the files it imports.
 *
 * @module
 */
import type postgres from "postgres";
import { type JsonValue, parseJson, toJsonValue } from "../json/lossless.ts";
import { CONFIG_SCHEMAS } from "../config/schemas.ts";
import type { Plan } from "../promotion/plan.ts";

/** The outcome of one check. */
export interface CheckResult {
  name: string;
  passed: boolean;
  details: JsonValue;
}

/** A team's SQL check. */
export interface CustomCheck {
  name: string;
  sql: string;
}

const MAX_ROWS = 20;

/** Converts lossless JSON to plain JS for zod (numbers become JS numbers). */
function plain(text: string): unknown {
  return JSON.parse(text);
}

async function offending(tx: postgres.TransactionSql, query: string): Promise<JsonValue[]> {
  const rows = await tx.unsafe(
    `select to_jsonb(q)::text as row from (${query}) as q limit ${MAX_ROWS + 1}`,
  );
  return rows.map((r) => parseJson(r.row as string));
}

/**
 * Runs every check.
 *
 * @param target a connection to the target as the table owner (read-only transaction used)
 * @param replan recomputes the promotion's plan (for parity); omit to skip parity
 */
export async function runChecks(
  target: postgres.Sql,
  opts: { replan?: () => Promise<Plan>; custom?: CustomCheck[] },
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  if (opts.replan) {
    const plan = await opts.replan();
    results.push({
      name: "parity",
      passed: plan.changes.length === 0,
      details: toJsonValue({
        remaining: plan.changes.slice(0, MAX_ROWS).map((c) => `${c.kind} ${c.key}: ${c.action}`),
        remaining_count: plan.changes.length,
      }),
    });
  }
  await target.begin("read only", async (tx) => {
    const refs = await offending(
      tx,
      `select 'tier_features' as kind, f.feature_key as key from public.tier_features f
         left join public.membership_tiers t on t.id = f.tier_id where t.id is null
       union all
       select 'tier_prices', coalesce(p.lookup_key, p.id::text) from public.tier_prices p
         left join public.membership_tiers t on t.id = p.tier_id where t.id is null
       union all
       select 'memberships', m.id::text from public.memberships m
         left join public.membership_tiers t on t.id = m.tier_id
         where t.id is null`,
    );
    results.push({ name: "references", passed: refs.length === 0, details: { offending: refs } });

    const schemaKeys = Object.keys(CONFIG_SCHEMAS);
    const values = await tx<{ key: string; value: string }[]>`
      select key, value::text as value from public.app_config
      where key = any(${schemaKeys}) and not is_secret`;
    const invalid: JsonValue[] = [];
    for (const { key, value } of values) {
      const parsed = CONFIG_SCHEMAS[key].safeParse(plain(value));
      if (!parsed.success) {
        invalid.push({
          key,
          issues: parsed.error.issues.map((i) => `${i.path.join(".") || "(value)"}: ${i.message}`),
        });
      }
    }
    results.push({
      name: "config_schemas",
      passed: invalid.length === 0,
      details: { offending: invalid },
    });

    const secrets = await offending(
      tx,
      `select key, 'secret entry not stored as ciphertext + fingerprint' as problem
         from public.app_config
         where is_secret and (value is not null or secret_ciphertext is null or secret_fingerprint is null)
       union all
       select key, 'plain entry named like a secret holds a string'
         from public.app_config
         where not is_secret and jsonb_typeof(value) = 'string'
           and key ~ '(^|[._])(secret|password|token|api_key|private_key)([._]|$)'`,
    );
    results.push({
      name: "secrets_encrypted",
      passed: secrets.length === 0,
      details: { offending: secrets },
    });

    const flags = await offending(
      tx,
      `select key, rollout_percent from public.feature_flags where rollout_percent not between 0 and 100`,
    );
    results.push({
      name: "flag_percentages",
      passed: flags.length === 0,
      details: { offending: flags },
    });

    for (const check of opts.custom ?? []) {
      // A savepoint per check: a broken query fails its check, not the whole validation.
      try {
        const rows = await tx.savepoint((sp) =>
          offending(sp, check.sql.trim().replace(/;\s*$/, ""))
        ) as JsonValue[];
        results.push({
          name: `custom:${check.name}`,
          passed: rows.length === 0,
          details: { offending: rows },
        });
      } catch (err) {
        results.push({
          name: `custom:${check.name}`,
          passed: false,
          details: { error: `Cannot run check: ${(err as Error).message}` },
        });
      }
    }
  });
  return results;
}
