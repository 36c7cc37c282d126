/**
 * A stand-in for Supabase Auth (GoTrue) on the local stack: creates email users the way
 * GoTrue stores them (`auth.users` + an `email` identity, bcrypt password via `crypt()`) and
 * mints their access tokens with the environment's JWT secret.
 *
 * @module
 */
import type { Sql } from "postgres";
import { type LocalEnv, readKeys } from "./config.ts";
import { signAccessToken } from "./jwt.ts";
import { createSession } from "./auth_sessions.ts";

/** Roles a member of the Stagecoach team can hold in `ops.members`. */
export const OPS_ROLES = ["viewer", "operator", "approver", "admin"] as const;
/** One of {@link OPS_ROLES}. */
export type OpsRole = typeof OPS_ROLES[number];

/** A user as the CLI reports it. */
export interface LocalUser {
  id: string;
  email: string;
  ops_role: OpsRole | null;
  created: boolean;
}

/**
 * Creates an email user (or finds the existing one) and optionally sets its ops role.
 * Running it twice with the same arguments changes nothing the second time.
 *
 * @param opts.password set (or reset) the password; without it a new user gets a random one
 */
export async function ensureUser(
  sql: Sql,
  opts: { email: string; password?: string; role?: OpsRole },
): Promise<LocalUser> {
  const email = opts.email.toLowerCase();
  return await sql.begin(async (tx) => {
    const [existing] = await tx<{ id: string }[]>`
      select id from auth.users where email = ${email} and not is_sso_user for update`;
    let id = existing?.id;
    if (!id) {
      id = crypto.randomUUID();
      const password = opts.password ?? crypto.randomUUID();
      await tx`
        insert into auth.users (
          instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
          confirmation_token, recovery_token, email_change_token_new, email_change,
          raw_app_meta_data, raw_user_meta_data, created_at, updated_at
        ) values (
          '00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated',
          ${email}, extensions.crypt(${password}, extensions.gen_salt('bf', 10)), now(),
          '', '', '', '',
          ${tx.json({ provider: "email", providers: ["email"] })}, ${tx.json({})}, now(), now()
        )`;
      await tx`
        insert into auth.identities (
          provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at
        ) values (
          ${id}, ${id},
          ${tx.json({ sub: id, email, email_verified: true, phone_verified: false })},
          'email', now(), now(), now()
        )`;
    } else if (opts.password !== undefined) {
      await tx`
        update auth.users
        set encrypted_password = extensions.crypt(${opts.password}, extensions.gen_salt('bf', 10)),
            updated_at = now()
        where id = ${id}
          and encrypted_password is distinct from extensions.crypt(${opts.password}, encrypted_password)`;
    }
    if (opts.role) {
      await tx`
        insert into ops.members (user_id, role) values (${id}, ${opts.role})
        on conflict (user_id) do update set role = excluded.role
        where ops.members.role is distinct from excluded.role`;
    }
    const [member] = await tx<{ role: OpsRole }[]>`
      select role from ops.members where user_id = ${id}`;
    return { id, email, ops_role: member?.role ?? null, created: !existing };
  });
}

/**
 * Mints an access token for an existing user of an environment. Without `sessionId` a new
 * session is recorded for it (with no refresh token), so the token is one Supabase Auth's
 * `/user` and `/logout` accept, as a signed-in user's would be.
 *
 * @param opts.email the user's email, or
 * @param opts.userId the user's id
 * @param opts.sessionId the session the token belongs to (the local Auth API's sign-in and
 *   refresh pass theirs)
 * @param opts.signedInAt the session's sign-in time (epoch seconds), for the `amr` claim
 * @throws {Error} when no such user exists
 */
export async function userToken(
  sql: Sql,
  env: LocalEnv,
  opts: ({ email: string } | { userId: string }) & {
    ttlSeconds?: number;
    sessionId?: string;
    signedInAt?: number;
  },
): Promise<{ access_token: string; expires_in: number; user: { id: string; email: string } }> {
  const email = "email" in opts ? opts.email.toLowerCase() : null;
  const userId = "userId" in opts ? opts.userId : null;
  const [user] = await sql<
    {
      id: string;
      email: string;
      phone: string | null;
      app: Record<string, unknown> | null;
      meta: Record<string, unknown> | null;
    }[]
  >`
    select id, email, phone, raw_app_meta_data as app, raw_user_meta_data as meta
    from auth.users
    where ${email === null ? sql`id = ${userId}` : sql`email = ${email}`}
      and not is_sso_user and deleted_at is null`;
  if (!user) {
    throw new Error(`Cannot mint a token: no user ${email ?? userId} in ${env.name}`);
  }
  const session = opts.sessionId === undefined
    ? await createSession(sql, user.id, { withRefreshToken: false })
    : { sessionId: opts.sessionId, signedInAt: opts.signedInAt };
  const ttl = opts.ttlSeconds ?? 3600;
  const { jwt_secret } = await readKeys(env);
  const token = await signAccessToken(jwt_secret, {
    id: user.id,
    email: user.email,
    phone: user.phone,
    app_metadata: user.app ?? undefined,
    user_metadata: user.meta ?? undefined,
  }, {
    apiUrl: env.apiUrl,
    ttlSeconds: ttl,
    sessionId: session.sessionId,
    signedInAt: session.signedInAt,
  });
  return { access_token: token, expires_in: ttl, user: { id: user.id, email: user.email } };
}
