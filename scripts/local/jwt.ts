/**
 * HS256 JWTs as the Supabase CLI makes them locally: API keys (anon, service_role) and user
 * access tokens, all signed with the environment's JWT secret.
 *
 * @module
 */
import { errors, jwtVerify, SignJWT } from "jose";
import type { JWTPayload } from "jose";

/** Claims of a Supabase JWT that Stagecoach reads. */
export interface SupabaseClaims extends JWTPayload {
  role: string;
  email?: string;
  phone?: string;
  app_metadata?: Record<string, unknown>;
  user_metadata?: Record<string, unknown>;
  aal?: string;
  session_id?: string;
  is_anonymous?: boolean;
}

/** Why a token was refused; the gateway reports it in its 401 body. */
export class JwtError extends Error {
  /** `missing`, `malformed`, `bad_signature`, `expired` or `invalid`. */
  readonly reason: "missing" | "malformed" | "bad_signature" | "expired" | "invalid";
  constructor(reason: JwtError["reason"], message: string) {
    super(message);
    this.name = "JwtError";
    this.reason = reason;
  }
}

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Lifetime of a token signed without `ttlSeconds` or an `exp` claim, as GoTrue's default. */
const DEFAULT_TTL_SECONDS = 3600;

/**
 * Signs claims with HS256. Every token gets an `exp`: the one in `claims`, else now +
 * `ttlSeconds` (default 3600), because the gateway refuses tokens that never expire.
 *
 * @param secret the environment's JWT secret
 * @param claims the payload; `iat` is added, and `exp` unless it is there
 * @param opts.ttlSeconds lifetime when `claims` has no `exp`; default 3600
 * @example
 * ```ts
 * const token = await signJwt("secret", { role: "anon" }, { ttlSeconds: 3600 });
 * ```
 */
export async function signJwt(
  secret: string,
  claims: SupabaseClaims,
  opts: { ttlSeconds?: number } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt();
  if (claims.exp === undefined) {
    jwt.setExpirationTime(`${opts.ttlSeconds ?? DEFAULT_TTL_SECONDS}s`);
  }
  return await jwt.sign(key(secret));
}

/** Claims of a token that verified: it always carries an `exp`. */
export type VerifiedClaims = SupabaseClaims & { exp: number };

/**
 * Verifies an HS256 token and returns its claims. A token must expire: one without `exp`
 * (which a leaked copy of would open the door with forever) is refused like a malformed one,
 * with reason `invalid`.
 *
 * @throws {JwtError} naming why the token is refused
 */
export async function verifyJwt(secret: string, token: string): Promise<VerifiedClaims> {
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
    throw new JwtError(
      "malformed",
      "Cannot verify token: it is not a JWT (header.payload.signature)",
    );
  }
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      algorithms: ["HS256"],
      requiredClaims: ["exp"],
    });
    if (typeof payload.role !== "string") {
      throw new JwtError("invalid", "Cannot verify token: it carries no role claim");
    }
    return payload as VerifiedClaims;
  } catch (err) {
    if (err instanceof JwtError) throw err;
    if (err instanceof errors.JWTExpired) {
      throw new JwtError("expired", "Cannot verify token: it has expired");
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      throw new JwtError("bad_signature", "Cannot verify token: the signature does not match");
    }
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === "exp") {
      throw new JwtError(
        "invalid",
        "Cannot verify token: it has no exp claim, so it never expires",
      );
    }
    if (err instanceof errors.JOSEAlgNotAllowed) {
      throw new JwtError("invalid", "Cannot verify token: only HS256 is accepted");
    }
    throw new JwtError("malformed", `Cannot verify token: ${(err as Error).message}`);
  }
}

/** Ten years, as the keys `supabase start` prints. */
const API_KEY_TTL_SECONDS = 10 * 365 * 24 * 3600;

/** Mints the anon and service-role API keys of an environment from its secret. */
export async function mintApiKeys(
  secret: string,
): Promise<{ anon_key: string; service_role_key: string }> {
  const iss = "supabase-demo";
  return {
    anon_key: await signJwt(secret, { iss, role: "anon" }, { ttlSeconds: API_KEY_TTL_SECONDS }),
    service_role_key: await signJwt(secret, { iss, role: "service_role" }, {
      ttlSeconds: API_KEY_TTL_SECONDS,
    }),
  };
}

/** The user fields a session token needs. */
export interface TokenUser {
  id: string;
  email: string | null;
  phone?: string | null;
  app_metadata?: Record<string, unknown>;
  user_metadata?: Record<string, unknown>;
}

/**
 * Mints an access token for a user, with the claims GoTrue puts in one.
 *
 * @param opts.apiUrl the environment's API URL (the `iss` is `<apiUrl>/auth/v1`)
 * @param opts.sessionId the `auth.sessions` row the token belongs to (the `session_id` claim,
 *   which Supabase Auth's `/user` and `/logout` look up)
 * @param opts.signedInAt when the session signed in with its password (the `amr` timestamp,
 *   epoch seconds); default now
 * @param opts.ttlSeconds lifetime, default 3600 as `jwt_expiry` in config.toml
 */
export async function signAccessToken(
  secret: string,
  user: TokenUser,
  opts: { apiUrl: string; sessionId: string; signedInAt?: number; ttlSeconds?: number },
): Promise<string> {
  return await signJwt(secret, {
    iss: `${opts.apiUrl}/auth/v1`,
    aud: "authenticated",
    sub: user.id,
    email: user.email ?? "",
    phone: user.phone ?? "",
    app_metadata: user.app_metadata ?? { provider: "email", providers: ["email"] },
    user_metadata: user.user_metadata ?? {},
    role: "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: opts.signedInAt ?? Math.floor(Date.now() / 1000) }],
    session_id: opts.sessionId,
    is_anonymous: false,
  }, { ttlSeconds: opts.ttlSeconds ?? 3600 });
}
