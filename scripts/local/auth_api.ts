/**
 * The password sign-in of Supabase Auth (GoTrue) on the local stack:
 * `POST /auth/v1/token?grant_type=password` with `{ email, password }` and the `apikey` header,
 * as supabase-js `signInWithPassword` sends it. The password is checked with `crypt()` against
 * `auth.users.encrypted_password` (bcrypt, as GoTrue stores it) and the access token is the one
 * `auth.ts` `userToken` mints.
 *
 * Answers as GoTrue does: 200 `{ access_token, token_type: "bearer", expires_in, expires_at,
 * refresh_token, user }`; errors 400 with `error_code` `invalid_credentials` ("Invalid login
 * credentials", whether the user is unknown or the password wrong), `email_not_confirmed`,
 * `user_banned` or `validation_failed`, shaped by the `X-Supabase-Api-Version` header as
 * GoTrue's `HandleResponseError`: `{ code, message }` from 2024-01-01 (what supabase-js
 * asks for), else `{ code: <status>, error_code, msg }`. Without a valid `apikey` (the
 * environment's anon or service-role key) the API gateway answers 401 `{ message }`.
 *
 * TODO(#15): refresh tokens. The `refresh_token` returned is random and not stored; the
 * `refresh_token` grant answers `unsupported_grant_type`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Sql } from "postgres";
import type { LocalEnv } from "./config.ts";
import { userToken } from "./auth.ts";

/** Options of {@link createAuthApp}. */
export interface AuthAppOptions {
  /** A connection to the environment's database (as its owner). */
  sql: Sql;
  env: LocalEnv;
  /** API keys accepted in the `apikey` header (the anon and service-role keys). */
  apiKeys: string[];
}

const API_VERSION_HEADER = "x-supabase-api-version";
const API_VERSION_2024 = "2024-01-01";

/** A GoTrue error, shaped for the caller's API version. */
function authError(
  c: Context,
  status: ContentfulStatusCode,
  errorCode: string,
  message: string,
): Response {
  const version = c.req.header(API_VERSION_HEADER);
  if (version !== undefined && version >= API_VERSION_2024) {
    c.header(API_VERSION_HEADER, API_VERSION_2024);
    return c.json({ code: errorCode, message }, status);
  }
  return c.json({ code: status, error_code: errorCode, msg: message }, status);
}

interface UserRow {
  id: string;
  aud: string | null;
  role: string | null;
  email: string;
  phone: string | null;
  email_confirmed_at: Date | null;
  confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  banned: boolean;
  password_ok: boolean;
  app_metadata: Record<string, unknown> | null;
  user_metadata: Record<string, unknown> | null;
  identities: Record<string, unknown>[];
  is_anonymous: boolean;
  created_at: Date;
  updated_at: Date;
}

/**
 * Creates the Auth app, to be mounted at `/auth/v1`.
 *
 * @param opts the database, the environment and the accepted API keys
 * @returns a Hono app
 * @example
 * ```ts
 * const auth = createAuthApp({ sql, env, apiKeys: [keys.anon_key, keys.service_role_key] });
 * const res = await auth.request("/token?grant_type=password", {
 *   method: "POST",
 *   headers: { apikey: keys.anon_key, "content-type": "application/json" },
 *   body: JSON.stringify({ email, password }),
 * });
 * ```
 */
export function createAuthApp(opts: AuthAppOptions): Hono {
  const app = new Hono();
  app.post("/token", async (c) => {
    const apikey = c.req.header("apikey");
    if (!apikey) return c.json({ message: "No API key found in request" }, 401);
    if (!opts.apiKeys.includes(apikey)) return c.json({ message: "Invalid API key" }, 401);
    // Any other grant is not served locally (TODO(#15): refresh_token).
    if (c.req.query("grant_type") !== "password") {
      return authError(c, 400, "invalid_credentials", "unsupported_grant_type");
    }
    const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
    const email = typeof body?.email === "string" ? body.email.trim().toLowerCase() : "";
    const password = typeof body?.password === "string" ? body.password : "";
    if (email === "") return authError(c, 400, "validation_failed", "missing email or phone");

    const [user] = await opts.sql<UserRow[]>`
      select u.id, u.aud, u.role, u.email, u.phone, u.email_confirmed_at, u.confirmed_at,
             u.last_sign_in_at, coalesce(u.banned_until > now(), false) as banned,
             coalesce(u.encrypted_password <> ''
               and u.encrypted_password = extensions.crypt(${password}, u.encrypted_password),
               false) as password_ok,
             u.raw_app_meta_data as app_metadata, u.raw_user_meta_data as user_metadata,
             coalesce(u.is_anonymous, false) as is_anonymous, u.created_at, u.updated_at,
             coalesce((select jsonb_agg(to_jsonb(i) - 'email') from auth.identities i
                       where i.user_id = u.id), '[]'::jsonb) as identities
      from auth.users u
      where u.email = ${email} and not u.is_sso_user and u.deleted_at is null`;
    if (!user) return authError(c, 400, "invalid_credentials", "Invalid login credentials");
    if (user.banned) return authError(c, 400, "user_banned", "User is banned");
    if (!user.password_ok) {
      return authError(c, 400, "invalid_credentials", "Invalid login credentials");
    }
    if (user.email_confirmed_at === null) {
      return authError(c, 400, "email_not_confirmed", "Email not confirmed");
    }

    const [{ now }] = await opts.sql<{ now: Date }[]>`
      update auth.users set last_sign_in_at = now() where id = ${user.id}
      returning last_sign_in_at as now`;
    const token = await userToken(opts.sql, opts.env, { email });
    const { password_ok: _ok, banned: _banned, ...profile } = user;
    return c.json({
      access_token: token.access_token,
      token_type: "bearer",
      expires_in: token.expires_in,
      expires_at: Math.floor(Date.now() / 1000) + token.expires_in,
      refresh_token: crypto.randomUUID().replaceAll("-", "").slice(0, 12),
      user: { ...profile, last_sign_in_at: now },
    });
  });
  return app;
}
