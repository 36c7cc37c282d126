/**
 * The part of Supabase Auth's (GoTrue's) HTTP API that supabase-js uses to sign in with a
 * password, refresh, read the user and sign out, served by the local stack under `/auth/v1`
 * with the `apikey` header (the environment's anon or service-role key), as supabase-js calls
 * it:
 *
 * - `POST /token?grant_type=password` `{ email, password }`: the password is checked with
 *   `crypt()` against `auth.users.encrypted_password` (bcrypt, as GoTrue stores it); a session
 *   and its first refresh token are stored (`auth_sessions.ts`).
 * - `POST /token?grant_type=refresh_token` `{ refresh_token }`: rotation with GoTrue's reuse
 *   rules (`auth_sessions.ts`); a malformed token is `validation_failed`.
 * - Both answer 200 `{ access_token, token_type: "bearer", expires_in, expires_at,
 *   refresh_token, user }`; the access token (`auth.ts` `userToken`) carries the `session_id`
 *   and the claims the gateway verifies.
 * - `GET /user` (Bearer token) → the user as GoTrue serializes it (`email_confirmed_at`,
 *   `identities` with `identity_id`, …; unset optional fields left out).
 * - `POST /logout?scope=global|local|others` (Bearer token) → 204; ends sessions per scope
 *   (their refresh tokens go with them), so the access token of an ended session is refused by
 *   `/user` (403 `session_not_found`) and its refresh token by `/token` (`refresh_token_not_found`).
 * - `GET /settings` → GoTrue's settings shape, for what this stand-in serves (email only,
 *   no sign-up endpoint).
 *
 * Errors are GoTrue's codes and messages (`invalid_credentials`, `refresh_token_already_used`,
 * `no_authorization` 401, `bad_jwt` / `session_not_found` / `user_not_found` 403, …), shaped
 * by the `X-Supabase-Api-Version` header as GoTrue's `HandleResponseError`: `{ code, message }`
 * from 2024-01-01 (what supabase-js asks for), else `{ code: <status>, error_code, msg }`.
 * Without a valid `apikey` the API gateway answers 401 `{ message }`. Every origin gets CORS,
 * as GoTrue and the hosted API gateway answer it.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Sql } from "postgres";
import type { LocalEnv } from "./config.ts";
import { userToken } from "./auth.ts";
import {
  createSession,
  type Grant,
  isRefusal,
  logout,
  type LogoutScope,
  refreshSession,
  sessionExists,
} from "./auth_sessions.ts";
import { JwtError, type VerifiedClaims, verifyJwt } from "./jwt.ts";

/** Options of {@link createAuthApp}. */
export interface AuthAppOptions {
  /** A connection to the environment's database (as its owner). */
  sql: Sql;
  env: LocalEnv;
  /** The environment's JWT secret, to verify Bearer tokens. */
  jwtSecret: string;
  /** API keys accepted in the `apikey` header (the anon and service-role keys). */
  apiKeys: string[];
  /** Seconds a revoked refresh token may still be swapped; default 10 (GoTrue's). */
  reuseIntervalSeconds?: number;
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

/** A refusal carried to {@link authError} by `onError`. */
class AuthApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * GoTrue's settings for what this stand-in serves: email and password only; no sign-up
 * endpoint (users come from `stagecoach user create`, confirmed at once, as config.toml's
 * `enable_confirmations = false` would have them).
 */
export const AUTH_SETTINGS = {
  external: {
    anonymous_users: false,
    apple: false,
    azure: false,
    bitbucket: false,
    discord: false,
    facebook: false,
    snapchat: false,
    figma: false,
    fly: false,
    github: false,
    gitlab: false,
    google: false,
    keycloak: false,
    kakao: false,
    linkedin: false,
    linkedin_oidc: false,
    notion: false,
    spotify: false,
    slack: false,
    slack_oidc: false,
    workos: false,
    twitch: false,
    twitter: false,
    email: true,
    phone: false,
    zoom: false,
  },
  disable_signup: true,
  mailer_autoconfirm: true,
  phone_autoconfirm: false,
  sms_provider: "",
  saml_enabled: false,
  saml_private_key_next_configured: false,
  passkeys_enabled: false,
} as const;

/** The user as GoTrue serializes it (`models.User`), or undefined when there is none. */
async function readUser(sql: Sql, id: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await sql<{ user: Record<string, unknown> }[]>`
    select jsonb_build_object(
             'id', u.id, 'aud', coalesce(u.aud, ''), 'role', coalesce(u.role, ''),
             'email', coalesce(u.email, ''), 'phone', coalesce(u.phone, ''),
             'app_metadata', coalesce(u.raw_app_meta_data, '{}'),
             'user_metadata', coalesce(u.raw_user_meta_data, '{}'),
             'identities', coalesce((
               select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id,
                        'identity_data', i.identity_data, 'provider', i.provider,
                        'last_sign_in_at', i.last_sign_in_at, 'created_at', i.created_at,
                        'updated_at', i.updated_at, 'email', i.email))
                      order by i.created_at)
               from auth.identities as i where i.user_id = u.id), '[]'),
             'created_at', u.created_at, 'updated_at', u.updated_at,
             'is_anonymous', u.is_anonymous
           ) || jsonb_strip_nulls(jsonb_build_object(
             -- GoTrue leaves these out when unset (omitempty).
             'email_confirmed_at', u.email_confirmed_at, 'invited_at', u.invited_at,
             'phone_confirmed_at', u.phone_confirmed_at,
             'confirmation_sent_at', u.confirmation_sent_at, 'confirmed_at', u.confirmed_at,
             'recovery_sent_at', u.recovery_sent_at, 'new_email', nullif(u.email_change, ''),
             'email_change_sent_at', u.email_change_sent_at,
             'new_phone', nullif(u.phone_change, ''),
             'phone_change_sent_at', u.phone_change_sent_at,
             'reauthentication_sent_at', u.reauthentication_sent_at,
             'last_sign_in_at', u.last_sign_in_at, 'banned_until', u.banned_until,
             'deleted_at', u.deleted_at
           )) as user
    from auth.users as u where u.id = ${id}`;
  return row?.user;
}

/** The token answer of both grants. */
async function sessionAnswer(opts: AuthAppOptions, grant: Grant) {
  const token = await userToken(opts.sql, opts.env, {
    userId: grant.userId,
    sessionId: grant.sessionId,
    signedInAt: grant.signedInAt,
  });
  return {
    access_token: token.access_token,
    token_type: "bearer",
    expires_in: token.expires_in,
    expires_at: Math.floor(Date.now() / 1000) + token.expires_in,
    refresh_token: grant.refreshToken,
    user: await readUser(opts.sql, grant.userId),
  };
}

interface UserRow {
  id: string;
  banned: boolean;
  password_ok: boolean;
  confirmed: boolean;
}

/** `POST /token?grant_type=password`. */
async function passwordGrant(c: Context, opts: AuthAppOptions): Promise<Response> {
  const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
  const email = typeof body?.email === "string" ? body.email.trim().toLowerCase() : "";
  const password = typeof body?.password === "string" ? body.password : "";
  if (email === "") return authError(c, 400, "validation_failed", "missing email or phone");

  const [user] = await opts.sql<UserRow[]>`
    select u.id, coalesce(u.banned_until > now(), false) as banned,
           coalesce(u.encrypted_password <> ''
             and u.encrypted_password = extensions.crypt(${password}, u.encrypted_password),
             false) as password_ok,
           u.email_confirmed_at is not null as confirmed
    from auth.users u
    where u.email = ${email} and not u.is_sso_user and u.deleted_at is null`;
  if (!user) return authError(c, 400, "invalid_credentials", "Invalid login credentials");
  if (user.banned) return authError(c, 400, "user_banned", "User is banned");
  if (!user.password_ok) {
    return authError(c, 400, "invalid_credentials", "Invalid login credentials");
  }
  if (!user.confirmed) return authError(c, 400, "email_not_confirmed", "Email not confirmed");

  const grant = await createSession(opts.sql, user.id, {
    userAgent: c.req.header("user-agent"),
  });
  return c.json(await sessionAnswer(opts, grant));
}

/** GoTrue's v1 refresh tokens; it issues nothing else here. */
const REFRESH_TOKEN_PATTERN = /^[a-z0-9]{12}$/;

/** `POST /token?grant_type=refresh_token`. */
async function refreshTokenGrant(c: Context, opts: AuthAppOptions): Promise<Response> {
  const body = await c.req.json().catch(() => null) as Record<string, unknown> | null;
  const token = typeof body?.refresh_token === "string" ? body.refresh_token : "";
  if (!REFRESH_TOKEN_PATTERN.test(token)) {
    return authError(c, 400, "validation_failed", "Refresh token is not valid");
  }
  const outcome = await refreshSession(opts.sql, token, {
    userAgent: c.req.header("user-agent"),
    reuseIntervalSeconds: opts.reuseIntervalSeconds,
  });
  if (isRefusal(outcome)) return authError(c, 400, outcome.code, outcome.message);
  return c.json(await sessionAnswer(opts, outcome));
}

/** What golang-jwt says for each reason `verifyJwt` gives, as GoTrue passes it on. */
const JWT_REASONS: Record<JwtError["reason"], string> = {
  missing: "token is malformed: token contains an invalid number of segments",
  malformed: "token is malformed: could not JSON decode claim",
  bad_signature: "token signature is invalid: signature is invalid",
  expired: "token has invalid claims: token is expired",
  invalid: "token has invalid claims",
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/** The caller of `/user` and `/logout`, checked as GoTrue's `requireAuthentication`. */
interface Authenticated {
  claims: VerifiedClaims;
  userId: string;
  sessionId: string | null;
}

/**
 * Checks the Bearer token, its user and its session, as GoTrue does before `/user` and
 * `/logout`.
 *
 * @throws {AuthApiError} with GoTrue's status, code and message
 */
async function authenticate(c: Context, opts: AuthAppOptions): Promise<Authenticated> {
  const bearer = /^[Bb]earer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  if (!bearer) {
    throw new AuthApiError(401, "no_authorization", "This endpoint requires a valid Bearer token");
  }
  let claims: VerifiedClaims;
  try {
    claims = await verifyJwt(opts.jwtSecret, bearer);
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    throw new AuthApiError(
      403,
      "bad_jwt",
      `invalid JWT: unable to parse or verify signature, ${JWT_REASONS[err.reason]}`,
    );
  }
  const sub = typeof claims.sub === "string" ? claims.sub : "";
  if (sub === "") throw new AuthApiError(403, "bad_jwt", "invalid claim: missing sub claim");
  if (!UUID.test(sub)) {
    throw new AuthApiError(400, "bad_jwt", "invalid claim: sub claim must be a UUID");
  }
  const [user] = await opts.sql<{ banned: boolean }[]>`
    select coalesce(banned_until > now(), false) as banned from auth.users where id = ${sub}`;
  if (!user) {
    throw new AuthApiError(403, "user_not_found", "User from sub claim in JWT does not exist");
  }
  const sid = typeof claims.session_id === "string" ? claims.session_id : "";
  let sessionId: string | null = null;
  if (sid !== "" && sid !== NIL_UUID) {
    if (!UUID.test(sid)) {
      throw new AuthApiError(403, "bad_jwt", "invalid claim: session_id claim must be a UUID");
    }
    if (!(await sessionExists(opts.sql, sid))) {
      throw new AuthApiError(
        403,
        "session_not_found",
        "Session from session_id claim in JWT does not exist",
      );
    }
    sessionId = sid;
  }
  if (user.banned) throw new AuthApiError(403, "user_banned", "User is banned");
  return { claims, userId: sub, sessionId };
}

/** The hosted API gateway's key check: every Auth route needs the project's `apikey`. */
function requireApiKey(keys: string[]): MiddlewareHandler {
  return async function requireApiKey(c, next) {
    const apikey = c.req.header("apikey");
    if (!apikey) return c.json({ message: "No API key found in request" }, 401);
    if (!keys.includes(apikey)) return c.json({ message: "Invalid API key" }, 401);
    return await next();
  };
}

/**
 * Creates the Auth app, to be mounted at `/auth/v1`.
 *
 * @param opts the database, the environment, its JWT secret and the accepted API keys
 * @returns a Hono app
 * @example
 * ```ts
 * const auth = createAuthApp({
 *   sql, env, jwtSecret: keys.jwt_secret, apiKeys: [keys.anon_key, keys.service_role_key],
 * });
 * const res = await auth.request("/token?grant_type=password", {
 *   method: "POST",
 *   headers: { apikey: keys.anon_key, "content-type": "application/json" },
 *   body: JSON.stringify({ email, password }),
 * });
 * ```
 */
export function createAuthApp(opts: AuthAppOptions): Hono {
  const app = new Hono();
  app.use(
    "*",
    cors({
      origin: (origin) => origin,
      credentials: true,
      allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
      allowHeaders: [
        "accept",
        "apikey",
        "authorization",
        "content-type",
        "x-client-info",
        "x-client-ip",
        "x-jwt-aud",
        API_VERSION_HEADER,
      ],
      exposeHeaders: ["x-total-count", "link", API_VERSION_HEADER],
    }),
  );
  app.use("*", requireApiKey(opts.apiKeys));
  app.onError((err, c) => {
    if (err instanceof AuthApiError) return authError(c, err.status, err.code, err.message);
    console.error("auth api error:", err);
    return authError(c, 500, "unexpected_failure", "Unexpected failure, please check server logs");
  });

  app.post("/token", (c) => {
    switch (c.req.query("grant_type")) {
      case "password":
        return passwordGrant(c, opts);
      case "refresh_token":
        return refreshTokenGrant(c, opts);
      default:
        // GoTrue's answer to a grant it does not serve.
        return authError(c, 400, "invalid_credentials", "unsupported_grant_type");
    }
  });

  app.get("/user", async (c) => {
    const { claims, userId } = await authenticate(c, opts);
    const aud = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    if (aud !== "authenticated") {
      return authError(
        c,
        400,
        "validation_failed",
        "Token audience doesn't match request audience",
      );
    }
    const user = await readUser(opts.sql, userId);
    if (!user) return authError(c, 404, "user_not_found", "User not found");
    return c.json(user);
  });

  app.post("/logout", async (c) => {
    const { userId, sessionId } = await authenticate(c, opts);
    const scope = c.req.query("scope") ?? "";
    const scopes: Record<string, LogoutScope> = {
      "": "global",
      global: "global",
      local: "local",
      others: "others",
    };
    if (!Object.hasOwn(scopes, scope)) {
      return authError(c, 400, "validation_failed", `Unsupported logout scope "${scope}"`);
    }
    await logout(opts.sql, { userId, sessionId, scope: scopes[scope] });
    return c.body(null, 204);
  });

  app.get("/settings", (c) => c.json(AUTH_SETTINGS));
  return app;
}
