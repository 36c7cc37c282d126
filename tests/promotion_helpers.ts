/**
 * Shared helpers of the promotion integration tests (`promotions_test.ts`,
 * `promotion_rollback_test.ts`, `config_bundles_test.ts`): they drive the real `ops` function
 * of each environment of the running test stack through its gateway, with users' tokens, and
 * read or edit the databases directly as postgres where a test plays the developer (editing a
 * source) or the auditor (content hashes, audit log).
 *
 * Every promotion compares whole tables and the test files share the three environments, so a
 * test first levels its target with its source ({@link Harness.level}), then makes changes with
 * keys of its own ({@link uniqueSuffix}) and asserts on those.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { type EnvName, localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import { ensureUser, type OpsRole, userToken } from "../scripts/local/auth.ts";
import { type JsonValue, parseJson } from "../supabase/functions/_shared/json/lossless.ts";
/** The owner's audited way around the approval gate, shared with the unit tests' fixtures. */
export { breakGlass } from "../supabase/functions/_shared/promotion/fixtures_test.ts";

/** The people of each environment's ops team a test acts as (`outsider` is no member). */
export type Actor =
  | "admin"
  | "operator"
  | "approver"
  | "approver2"
  | "viewer"
  | "outsider";

const ACTOR_ROLES: Record<Actor, OpsRole | undefined> = {
  admin: "admin",
  operator: "operator",
  approver: "approver",
  approver2: "approver",
  viewer: "viewer",
  outsider: undefined,
};

/** One run of a test file: user emails carry it, so runs never share users. */
const RUN = crypto.randomUUID().slice(0, 8);

/** A short random suffix for test-unique keys: `test_<s>.x`, tier `t-<s>`, price `t_<s>_m`. */
export function uniqueSuffix(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 10).replace(/^[0-9]/, "x");
}

/** The email of an actor in this run. */
export function actorEmail(actor: Actor): string {
  return `promo-${actor}-${RUN}@stagecoach.test`;
}

/** An answer of the ops function: status, the raw text, and the body (numbers exact). */
export interface ApiAnswer {
  status: number;
  text: string;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Per-table content hashes of the promotable tables (`ops.content_hashes()`). */
export type Hashes = Record<string, string>;

/** The tokens minted in this run (users persist between the tests of a file). */
const tokens = new Map<string, string>();

/** What a test drives: a connection per environment and the API as each actor. */
export interface Harness {
  /** A connection to each environment's database as postgres. */
  db: Record<EnvName, postgres.Sql>;
  /** The access token of `actor` in `env` (the user is created on first use). */
  token(env: EnvName, actor: Actor): Promise<string>;
  /** The user id of `actor` in `env`. */
  userId(env: EnvName, actor: Actor): Promise<string>;
  /**
   * Calls `env`'s ops function as `who` (an actor, or a raw bearer token such as the anon key).
   * `body` is sent as JSON when given (then the method defaults to POST).
   */
  call(
    env: EnvName,
    who: Actor | { bearer: string },
    path: string,
    opts?: { method?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
  /** `POST /ops/promotions` into `target` from `source` as `actor` (default operator). */
  plan(
    source: EnvName,
    target: EnvName,
    opts?: { actor?: Actor; scope?: string[]; includeFlagState?: boolean },
  ): Promise<ApiAnswer>;
  /** Approves a promotion with as many distinct approvers as it needs; returns its status. */
  approveAsNeeded(target: EnvName, promotion: { id: string; plan_hash: string }): Promise<string>;
  /** `POST /ops/promotions/:id/apply` as `actor` (default operator). */
  apply(target: EnvName, id: string, actor?: Actor): Promise<ApiAnswer>;
  /** `POST /ops/promotions/:id/rollback` as `actor` (default operator). */
  rollback(target: EnvName, id: string, actor?: Actor): Promise<ApiAnswer>;
  /**
   * Plans, approves as needed and applies; asserts there was something to do, that the
   * promotion succeeded and that a second plan is empty. Returns the promotion id.
   */
  promote(
    source: EnvName,
    target: EnvName,
    opts?: { scope?: string[]; includeFlagState?: boolean },
  ): Promise<string>;
  /** Makes `target` match `source` on every scope (nothing to do when they already match). */
  level(source: EnvName, target: EnvName): Promise<void>;
  /** `ops.content_hashes()` of `env`. */
  hashes(env: EnvName): Promise<Hashes>;
  /** How many promotions `env` has recorded. */
  promotionCount(env: EnvName): Promise<number>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/**
 * Opens the harness on the running test stack (`STAGECOACH_HOME`, `STAGECOACH_PORT_OFFSET`).
 *
 * @throws {Error} when the stack is not running: the tests fail, they never skip
 */
export async function openHarness(): Promise<Harness> {
  const envs = ["development", "staging", "production"] as const;
  const db = Object.fromEntries(
    envs.map((name) => [name, postgres(localEnv(name).dbUrl, { max: 2, onnotice: () => {} })]),
  ) as Record<EnvName, postgres.Sql>;
  try {
    for (const name of envs) {
      await readKeys(localEnv(name));
      await db[name]`select 1`;
    }
  } catch (err) {
    await Promise.all(envs.map((name) => db[name].end()));
    throw new Error(
      `Cannot reach the test stack (start it, or set STAGECOACH_HOME / STAGECOACH_PORT_OFFSET): ${
        (err as Error).message
      }`,
    );
  }

  async function token(env: EnvName, actor: Actor): Promise<string> {
    const cacheKey = `${env}/${actor}`;
    let t = tokens.get(cacheKey);
    if (!t) {
      await ensureUser(db[env], { email: actorEmail(actor), role: ACTOR_ROLES[actor] });
      t = (await userToken(db[env], localEnv(env), { email: actorEmail(actor) })).access_token;
      tokens.set(cacheKey, t);
    }
    return t;
  }

  async function userId(env: EnvName, actor: Actor): Promise<string> {
    await token(env, actor);
    const [row] = await db[env]<{ id: string }[]>`
      select id::text from auth.users where email = ${actorEmail(actor)}`;
    return row.id;
  }

  async function call(
    env: EnvName,
    who: Actor | { bearer: string },
    path: string,
    opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<ApiAnswer> {
    const bearer = typeof who === "string" ? await token(env, who) : who.bearer;
    const res = await fetch(`${localEnv(env).functionsUrl}/ops${path}`, {
      method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(opts.body === undefined ? {} : { "content-type": "application/json" }),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = { unparsed: text };
    }
    return { status: res.status, text, body };
  }

  function plan(
    source: EnvName,
    target: EnvName,
    opts: { actor?: Actor; scope?: string[]; includeFlagState?: boolean } = {},
  ): Promise<ApiAnswer> {
    return call(target, opts.actor ?? "operator", "/promotions", {
      body: {
        source,
        ...(opts.scope ? { scope: opts.scope } : {}),
        include_flag_state: opts.includeFlagState ?? false,
      },
    });
  }

  async function approveAsNeeded(
    target: EnvName,
    promotion: { id: string; plan_hash: string },
  ): Promise<string> {
    let status = "";
    for (const approver of ["approver", "approver2"] as const) {
      const shown = await call(target, "viewer", `/promotions/${promotion.id}`);
      assert.equal(shown.status, 200, shown.text);
      status = shown.body.promotion.status;
      if (status !== "awaiting_approval") return status;
      const res = await call(target, approver, `/promotions/${promotion.id}/approve`, {
        body: { plan_hash: promotion.plan_hash },
      });
      assert.equal(res.status, 200, res.text);
      status = res.body.promotion.status;
    }
    return status;
  }

  function apply(target: EnvName, id: string, actor: Actor = "operator"): Promise<ApiAnswer> {
    return call(target, actor, `/promotions/${id}/apply`, { body: {} });
  }

  function rollback(target: EnvName, id: string, actor: Actor = "operator"): Promise<ApiAnswer> {
    return call(target, actor, `/promotions/${id}/rollback`, { body: {} });
  }

  async function promoteIfNeeded(
    source: EnvName,
    target: EnvName,
    opts: { scope?: string[]; includeFlagState?: boolean } = {},
  ): Promise<string | null> {
    const planned = await plan(source, target, opts);
    assert.ok([200, 201].includes(planned.status), `plan ${source} → ${target}: ${planned.text}`);
    if (planned.body.empty) return null;
    const promotion = planned.body.promotion;
    assert.equal(await approveAsNeeded(target, promotion), "approved");
    const applied = await apply(target, promotion.id);
    assert.equal(applied.status, 200, applied.text);
    assert.equal(
      applied.body.promotion.status,
      "succeeded",
      `apply ${source} → ${target}: ${applied.text}`,
    );
    const again = await plan(source, target, opts);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.empty, true, `second plan ${source} → ${target}: ${again.text}`);
    return promotion.id;
  }

  async function promote(
    source: EnvName,
    target: EnvName,
    opts: { scope?: string[]; includeFlagState?: boolean } = {},
  ): Promise<string> {
    const id = await promoteIfNeeded(source, target, opts);
    assert.ok(id, `${source} → ${target}: expected changes, the plan was empty`);
    return id;
  }

  async function level(source: EnvName, target: EnvName): Promise<void> {
    await promoteIfNeeded(source, target);
  }

  async function hashes(env: EnvName): Promise<Hashes> {
    const rows = await db[env]<{ table_name: string; content_hash: string }[]>`
      select table_name, content_hash from ops.content_hashes()`;
    return Object.fromEntries(rows.map((r) => [r.table_name, r.content_hash]));
  }

  async function promotionCount(env: EnvName): Promise<number> {
    const [{ n }] = await db[env]<{ n: number }[]>`select count(*)::int as n from ops.promotions`;
    return n;
  }

  async function close(): Promise<void> {
    await Promise.all(envs.map((name) => db[name].end()));
  }

  return {
    db,
    token,
    userId,
    call,
    plan,
    approveAsNeeded,
    apply,
    rollback,
    promote,
    level,
    hashes,
    promotionCount,
    close,
  };
}

/** Runs `fn` with an open harness and closes it, whatever happens. */
export async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await openHarness();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/**
 * Inside `tx` (to be rolled back), records a minimal approved promotion of `scope` into
 * `target`, moves it to `applying` as the system and opens its write permit, as the apply path
 * does. Returns its id.
 */
export async function stageApplying(
  tx: postgres.TransactionSql,
  target: string,
  scope: string[],
): Promise<string> {
  const plan = {
    changes: [{
      action: "create",
      after: { test: uniqueSuffix() },
      before: null,
      key: "staged",
      kind: "config",
      reasons: [],
      risk: "low",
    }],
    format: "stagecoach.plan",
    kept: [],
    options: { include_flag_state: false },
    risk: "low",
    scope,
    source: "development",
    summary: { archive: 0, create: 1, delete: 0, replace: 0, retire: 0, update: 0 },
    target,
    version: 1,
  };
  await tx`select set_config('request.jwt.claims', '{}', true)`;
  const [{ id }] = await tx<{ id: string }[]>`
    select id::text from ops.create_promotion(${JSON.stringify(plan)})`;
  await tx`update ops.promotions set status = 'applying' where id = ${id}`;
  await tx`select ops.open_promotion_writes(${id})`;
  return id;
}

/** Sets (or replaces) a plain config entry in `sql`'s database; the value is JSON text. */
export async function setConfig(
  sql: postgres.Sql | postgres.TransactionSql,
  key: string,
  jsonText: string,
  opts: { envSpecific?: boolean; description?: string } = {},
): Promise<void> {
  await sql`
    insert into public.app_config (key, value, description, env_specific)
    values (${key}, ${jsonText}::text::jsonb, ${opts.description ?? null}, ${
    opts.envSpecific ?? false
  })
    on conflict (key) do update
      set value = excluded.value, description = excluded.description,
          env_specific = excluded.env_specific, is_secret = false,
          secret_ciphertext = null, secret_fingerprint = null`;
}

/** A config entry's value as Postgres prints it (`value::text`), or null when absent. */
export async function configText(sql: postgres.Sql, key: string): Promise<string | null> {
  const [row] = await sql<{ value: string | null }[]>`
    select value::text as value from public.app_config where key = ${key}`;
  return row ? row.value : null;
}

/** Sets a secret config entry as postgres (the database encrypts it); returns its fingerprint. */
export async function setSecret(
  sql: postgres.Sql,
  key: string,
  plaintext: string,
): Promise<string> {
  const [{ fp }] = await sql<{ fp: string }[]>`
    select ops.set_config_secret(${key}, ${plaintext}, 'test secret') as fp`;
  return fp;
}

/** Decrypts a secret config entry with its environment's key (as postgres). */
export async function readSecret(sql: postgres.Sql, key: string): Promise<string | null> {
  const [row] = await sql<{ plaintext: string }[]>`
    select private.decrypt_config_secret(secret_ciphertext) as plaintext
    from public.app_config where key = ${key} and is_secret`;
  return row?.plaintext ?? null;
}

/**
 * Sets an existing config entry's value (JSON text) and returns what puts the old value back,
 * e.g. to make a registered key invalid for one test.
 */
export async function swapConfigValue(
  sql: postgres.Sql,
  key: string,
  jsonText: string,
): Promise<() => Promise<void>> {
  const [{ value }] = await sql<{ value: string }[]>`
    select value::text as value from public.app_config where key = ${key}`;
  await sql`update public.app_config set value = ${jsonText}::text::jsonb where key = ${key}`;
  return async () => {
    await sql`update public.app_config set value = ${value}::text::jsonb where key = ${key}`;
  };
}

/** Deletes config entries by key. */
export async function deleteConfig(
  sql: postgres.Sql | postgres.TransactionSql,
  ...keys: string[]
): Promise<void> {
  await sql`delete from public.app_config where key = any(${keys})`;
}

/**
 * Creates an active tier with one feature and one active monthly price (the team's check
 * `active_tiers_have_prices` wants every active tier to be buyable). Returns its lookup key.
 */
export async function createTier(
  sql: postgres.Sql,
  slug: string,
  opts: { amount?: number; feature?: string } = {},
): Promise<string> {
  const lookupKey = `${slug.replaceAll("-", "_")}_monthly`;
  await sql.begin(async (tx) => {
    const [{ id }] = await tx<{ id: string }[]>`
      insert into public.membership_tiers (slug, name, description, sort_order, metadata)
      values (${slug}, ${`Tier ${slug}`}, 'made by a promotion test', 900, '{"test": true}')
      returning id::text`;
    await tx`
      insert into public.tier_features (tier_id, feature_key, value)
      values (${id}, ${opts.feature ?? "max_projects"}, '10')`;
    await tx`
      insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
      values (${id}, ${lookupKey}, 'usd', ${opts.amount ?? 1000}, 'month')`;
  });
  return lookupKey;
}

/** Deletes tiers by slug (their features and prices go with them; memberships must not exist). */
export async function deleteTiers(sql: postgres.Sql, ...slugs: string[]): Promise<void> {
  await sql`delete from public.membership_tiers where slug = any(${slugs})`;
}

/** The change of a plan for `kind` and `key`, if any. */
export function changeOf(
  plan: { changes: { kind: string; key: string }[] },
  kind: string,
  key: string,
  // deno-lint-ignore no-explicit-any
): any {
  return plan.changes.find((c) => c.kind === kind && c.key === key);
}

/** The id of the newest audit entry of a database ("0" when none). */
export async function lastAuditId(sql: postgres.Sql): Promise<string> {
  const [{ id }] = await sql<{ id: string }[]>`
    select coalesce(max(id), 0)::text as id from ops.audit_log`;
  return id;
}

/** The details of every audit entry after `since`, as one text (to search for leaks). */
export async function auditTextSince(sql: postgres.Sql, since: string): Promise<string> {
  const [{ text }] = await sql<{ text: string }[]>`
    select coalesce(string_agg(details::text, e'\n'), '') as text from ops.audit_log
    where id > ${since}::bigint`;
  return text;
}

/** Parses JSON keeping every number exact (for values beyond 2^53 and long decimals). */
export function exactJson(text: string): JsonValue {
  return parseJson(text);
}

/** Runs the CLI as an operator would, as a child process against the test stack. */
export async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}
