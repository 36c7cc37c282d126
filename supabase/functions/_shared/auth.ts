/**
 * Who is calling: the claims of the JWT in the `Authorization` header.
 *
 * The signature is NOT checked here, on purpose. Every function that reads claims is
 * deployed with `verify_jwt = true`, so Supabase's gateway (and the local gateway,
 * `scripts/local/gateway.ts`) has already refused any token that is missing, wrongly signed
 * or expired before the request reaches the function. Verifying again would need the JWT
 * secret inside every function, which Supabase does not hand out. A function deployed with
 * `verify_jwt = false` must not use this module to authenticate anyone.
 *
 * What this module does check is the shape of the claims (zod), so a token without a role,
 * or with a role Postgres must never be asked to assume, is refused with a 401. As defence in
 * depth it also refuses a token without `exp` (a leaked one would work for ever) and one whose
 * `exp` has passed, should anything in front of the function have let it through.
 *
 * @module
 */
import { decodeJwt } from "jose";
import { z } from "zod";
import { ApiError } from "./http.ts";

/** The roles a caller may act as in Postgres, as PostgREST allows. */
export const CALLER_ROLES = ["anon", "authenticated", "service_role"] as const;

/**
 * The claims Stagecoach reads; other claims are kept as they are. `exp` is optional here
 * because the service paths build claims of their own (`{ role: "service_role" }`) to act
 * under; a token read from a request must carry one ({@link TokenClaimsSchema}).
 */
export const CallerClaimsSchema = z.looseObject({
  role: z.enum(CALLER_ROLES),
  sub: z.uuid().optional(),
  email: z.string().optional(),
  exp: z.number().optional(),
});

/** A caller's claims. */
export type CallerClaims = z.infer<typeof CallerClaimsSchema>;

/** The claims of a bearer token: those of {@link CallerClaimsSchema}, and an `exp`. */
export const TokenClaimsSchema = CallerClaimsSchema.extend({ exp: z.number() });

/** A signed-in user's claims: role `authenticated` and a subject. */
export type UserClaims = CallerClaims & { role: "authenticated"; sub: string };

function unauthorized(message: string, reason: string): ApiError {
  return new ApiError(401, "unauthorized", message, { reason });
}

/**
 * Reads the caller's claims from an `Authorization: Bearer <jwt>` header value.
 *
 * @param header the header value (undefined when absent)
 * @param opts.now the clock in milliseconds (default `Date.now`), for the `exp` check
 * @returns the validated claims
 * @throws {ApiError} 401 `unauthorized` with `details.reason` `missing`, `malformed`,
 * `invalid` (claims of the wrong shape, `exp` missing included) or `expired`
 * @example
 * ```ts
 * const claims = readCallerClaims(c.req.header("authorization"));
 * claims.role; // "authenticated"
 * ```
 */
export function readCallerClaims(
  header: string | undefined,
  opts: { now?: () => number } = {},
): CallerClaims {
  if (header === undefined || header.trim() === "") {
    throw unauthorized(
      "Cannot identify the caller: the Authorization header is missing",
      "missing",
    );
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw unauthorized(
      "Cannot identify the caller: the Authorization header is not 'Bearer <token>'",
      "malformed",
    );
  }
  let payload: unknown;
  try {
    payload = decodeJwt(match[1]);
  } catch {
    throw unauthorized("Cannot identify the caller: the token is not a JWT", "malformed");
  }
  const parsed = TokenClaimsSchema.safeParse(payload);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join(".")))].join(", ");
    throw unauthorized(
      `Cannot identify the caller: the token's claims are invalid (${fields})`,
      "invalid",
    );
  }
  // Expired at `exp`, in whole seconds, as the gateway (jose's jwtVerify) counts it.
  if (parsed.data.exp <= Math.floor((opts.now ?? Date.now)() / 1000)) {
    throw unauthorized("Cannot identify the caller: the token has expired", "expired");
  }
  return parsed.data;
}

/**
 * Narrows claims to a signed-in user's.
 *
 * @param claims the caller's claims
 * @returns the same claims, typed as a user's
 * @throws {ApiError} 401 `unauthorized` (reason `not_a_user`) for API keys (anon,
 * service_role) and tokens without a subject
 * @example
 * ```ts
 * const user = requireUser(readCallerClaims(c.req.header("authorization")));
 * user.sub; // the auth.users id
 * ```
 */
export function requireUser(claims: CallerClaims): UserClaims {
  if (claims.role !== "authenticated" || claims.sub === undefined) {
    throw unauthorized(
      `Cannot identify the user: a token of role ${claims.role} without a subject is not a user's`,
      "not_a_user",
    );
  }
  return claims as UserClaims;
}
