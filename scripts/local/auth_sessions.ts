/**
 * Sessions and refresh tokens of the local Supabase Auth stand-in, stored as GoTrue stores them
 * (`auth.sessions`, `auth.refresh_tokens`; see `shim/02_auth.sql`). I/O only: each function is
 * passed its postgres.js client.
 *
 * GoTrue's rules, reproduced:
 * - Signing in creates a session (`aal1`) and its first refresh token: 12 characters `[a-z0-9]`
 *   (GoTrue's v1 tokens), no parent. `last_sign_in_at` is set on every grant.
 * - Refreshing revokes the token and issues a child (`parent` = the old token, same session).
 * - A revoked token comes back: if it is the parent of the session's active token (the client
 *   lost the answer), the active token is handed out again; else within the reuse interval
 *   (config.toml `refresh_token_reuse_interval`, 10 s) it is swapped like a live one; after it,
 *   every token of the session is revoked (the family is treated as stolen) and the grant fails
 *   `refresh_token_already_used` — the revocation is committed even though the grant fails.
 * - Signing out deletes sessions (scope `global`: all of the user's, `local`: this one,
 *   `others`: all but this one); their refresh tokens go with them (`on delete cascade`).
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";

/** GoTrue's default (and config.toml's) `refresh_token_reuse_interval`, in seconds. */
export const REFRESH_TOKEN_REUSE_INTERVAL_SECONDS = 10;

/** A client or a transaction. */
type Queryable = Sql | TransactionSql;

/** What a grant hands out: the session and its (new or re-issued) refresh token. */
export interface Grant {
  userId: string;
  sessionId: string;
  refreshToken: string;
  /** When the session signed in (epoch seconds): the access token's `amr` timestamp. */
  signedInAt: number;
}

/** Why a refresh was refused: GoTrue's error code and message (always a 400). */
export interface RefreshRefusal {
  code:
    | "refresh_token_not_found"
    | "refresh_token_already_used"
    | "session_not_found"
    | "session_expired"
    | "user_banned";
  message: string;
}

/** Where a sign-in comes from, kept on the session as GoTrue does. */
export interface ClientInfo {
  userAgent?: string;
  ip?: string;
}

/** A GoTrue v1 refresh token: 12 characters of `[a-z0-9]`. */
export function newRefreshToken(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  // 252 = 7 × 36: bytes at or above it are dropped so every character is equally likely.
  const out: string[] = [];
  while (out.length < 12) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      if (b < 252 && out.length < 12) out.push(alphabet[b % 36]);
    }
  }
  return out.join("");
}

/**
 * Creates a session for a user, with its first refresh token, and records the sign-in on the
 * user (`last_sign_in_at`) — unless `withRefreshToken` is false: a token minted by the CLI has a
 * session but nothing to refresh it with, and is no sign-in.
 *
 * @returns the grant; `refreshToken` is "" without a refresh token
 */
export async function createSession(
  sql: Queryable,
  userId: string,
  opts: ClientInfo & { withRefreshToken?: boolean } = {},
): Promise<Grant> {
  const sessionId = crypto.randomUUID();
  const refreshToken = opts.withRefreshToken === false ? "" : newRefreshToken();
  const [row] = await sql<{ signed_in_at: number }[]>`
    with s as (
      insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)
      values (${sessionId}, ${userId}, now(), now(), 'aal1', ${opts.userAgent ?? null},
              ${opts.ip ?? null}::inet)
      returning id, created_at
    ), t as (
      insert into auth.refresh_tokens
        (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
      select '00000000-0000-0000-0000-000000000000', ${refreshToken}, ${userId}, false,
             now(), now(), null, s.id
      from s where ${refreshToken} <> ''
    ), u as (
      -- A sign-in (one that gets a refresh token) is recorded on the user; a minted token is not.
      update auth.users set last_sign_in_at = now() where id = ${userId} and ${refreshToken} <> ''
    )
    select extract(epoch from created_at)::int as signed_in_at from s`;
  return { userId, sessionId, refreshToken, signedInAt: row.signed_in_at };
}

interface TokenRow {
  id: string;
  token: string;
  user_id: string;
  revoked: boolean;
  reusable: boolean;
  session_id: string | null;
  session_found: boolean;
  session_expired: boolean;
  signed_in_at: number | null;
  banned: boolean;
}

/**
 * Exchanges a refresh token for the next one, following GoTrue's rotation and reuse rules
 * (see the module's notes).
 *
 * @param opts.reuseIntervalSeconds how long a revoked token may still be swapped; default 10
 * @returns the grant, or the refusal GoTrue would answer
 */
export async function refreshSession(
  sql: Sql,
  token: string,
  opts: ClientInfo & { reuseIntervalSeconds?: number } = {},
): Promise<Grant | RefreshRefusal> {
  const interval = opts.reuseIntervalSeconds ?? REFRESH_TOKEN_REUSE_INTERVAL_SECONDS;
  return await sql.begin(async (tx) => {
    const [row] = await tx<TokenRow[]>`
      select rt.id::text, rt.token, rt.user_id, coalesce(rt.revoked, false) as revoked,
             now() <= rt.updated_at + make_interval(secs => ${interval}) as reusable,
             rt.session_id, s.id is not null as session_found,
             coalesce(s.not_after < now(), false) as session_expired,
             extract(epoch from s.created_at)::int as signed_in_at,
             coalesce(u.banned_until > now(), false) as banned
      from auth.refresh_tokens as rt
      join auth.users as u on u.id::text = rt.user_id
      left join auth.sessions as s on s.id = rt.session_id
      where rt.token = ${token}
      for update of rt`;
    if (!row) {
      return refusal("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
    }
    if (row.banned) return refusal("user_banned", "Invalid Refresh Token: User Banned");
    if (!row.session_found || row.session_id === null) {
      await tx`delete from auth.refresh_tokens where id = ${row.id}`;
      return refusal("session_not_found", "Invalid Refresh Token: No Valid Session Found");
    }
    if (row.session_expired) {
      return refusal("session_expired", "Invalid Refresh Token: Session Expired");
    }
    const grant = (refreshToken: string): Grant => ({
      userId: row.user_id,
      sessionId: row.session_id!,
      refreshToken,
      signedInAt: row.signed_in_at ?? Math.floor(Date.now() / 1000),
    });

    if (row.revoked) {
      const [active] = await tx<{ token: string; parent: string | null }[]>`
        select token, parent from auth.refresh_tokens
        where session_id = ${row.session_id} and revoked is false
        order by id desc limit 1`;
      if (active && active.parent === row.token) {
        await touchSession(tx, row.session_id, opts);
        return grant(active.token);
      }
      if (!row.reusable) {
        await tx`
          update auth.refresh_tokens set revoked = true, updated_at = now()
          where session_id = ${row.session_id} and revoked = false`;
        return refusal("refresh_token_already_used", "Invalid Refresh Token: Already Used");
      }
    }

    const next = newRefreshToken();
    await tx`
      update auth.refresh_tokens set revoked = true, updated_at = now() where id = ${row.id}`;
    await tx`
      insert into auth.refresh_tokens
        (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
      values ('00000000-0000-0000-0000-000000000000', ${next}, ${row.user_id}, false,
              now(), now(), ${row.token}, ${row.session_id})`;
    await tx`update auth.users set last_sign_in_at = now() where id::text = ${row.user_id}`;
    await touchSession(tx, row.session_id, opts);
    return grant(next);
  });
}

function refusal(code: RefreshRefusal["code"], message: string): RefreshRefusal {
  return { code, message };
}

/** Records a refresh on the session, as GoTrue does (`refreshed_at`, user agent and IP). */
async function touchSession(tx: Queryable, sessionId: string, info: ClientInfo): Promise<void> {
  await tx`
    update auth.sessions
    set refreshed_at = timezone('utc', now()), updated_at = now(),
        user_agent = coalesce(${info.userAgent ?? null}, user_agent),
        ip = coalesce(${info.ip ?? null}::inet, ip)
    where id = ${sessionId}`;
}

/** Is `grant` a refusal? */
export function isRefusal(outcome: Grant | RefreshRefusal): outcome is RefreshRefusal {
  return "code" in outcome;
}

/** Does this session still exist (not signed out)? */
export async function sessionExists(sql: Queryable, sessionId: string): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`
    select exists (select from auth.sessions where id = ${sessionId}) as found`;
  return row.found;
}

/** Which sessions a sign-out ends, as GoTrue's `scope` query parameter. */
export type LogoutScope = "global" | "local" | "others";

/**
 * Ends sessions of a user; their refresh tokens are deleted with them. Without a session (a
 * token carrying no `session_id`) every scope ends all of the user's sessions, as GoTrue does.
 *
 * @returns how many sessions were ended
 */
export async function logout(
  sql: Queryable,
  opts: { userId: string; sessionId: string | null; scope: LogoutScope },
): Promise<number> {
  const { userId, sessionId, scope } = opts;
  if (sessionId !== null && scope === "local") {
    return (await sql`delete from auth.sessions where id = ${sessionId}`).count;
  }
  if (sessionId !== null && scope === "others") {
    return (await sql`
      delete from auth.sessions where user_id = ${userId} and id <> ${sessionId}`).count;
  }
  return (await sql`delete from auth.sessions where user_id = ${userId}`).count;
}
