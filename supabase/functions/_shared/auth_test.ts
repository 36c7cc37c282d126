import assert from "node:assert/strict";
import { SignJWT, UnsecuredJWT } from "jose";
import { readCallerClaims, requireUser } from "./auth.ts";
import { ApiError } from "./http.ts";

const USER_ID = "6f1c1b2a-6a44-4e0c-9f6e-2d6c1b0b7a11";

const HOUR_FROM_NOW = () => Math.floor(Date.now() / 1000) + 3600;

/** A signed token; it expires in an hour unless `claims` says otherwise (`exp: undefined`: never). */
async function token(claims: Record<string, unknown>): Promise<string> {
  const payload = "exp" in claims ? claims : { ...claims, exp: HOUR_FROM_NOW() };
  const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
  return await new SignJWT(clean).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode("any secret: the gateway verified it already"));
}

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 401);
    assert.equal(err.code, "unauthorized");
    return err.details.reason as string;
  }
  throw new Error("expected a 401");
}

Deno.test("readCallerClaims reads a user's claims and keeps extra claims", async () => {
  const claims = readCallerClaims(
    `Bearer ${await token({ role: "authenticated", sub: USER_ID, email: "a@b.c", aal: "aal1" })}`,
  );
  assert.equal(claims.role, "authenticated");
  assert.equal(claims.sub, USER_ID);
  assert.equal(claims.email, "a@b.c");
  assert.equal(claims.aal, "aal1");
});

Deno.test("readCallerClaims refuses a missing or non-Bearer header", () => {
  assert.equal(reasonOf(() => readCallerClaims(undefined)), "missing");
  assert.equal(reasonOf(() => readCallerClaims("Basic abc")), "malformed");
  assert.equal(reasonOf(() => readCallerClaims("Bearer not.a.jwt")), "malformed");
});

Deno.test("readCallerClaims refuses roles Postgres must never assume and non-uuid subjects", () => {
  const exp = HOUR_FROM_NOW();
  for (const role of ["postgres", "supabase_admin", undefined]) {
    assert.equal(
      reasonOf(() => readCallerClaims(`Bearer ${new UnsecuredJWT({ role, exp }).encode()}`)),
      "invalid",
    );
  }
  assert.equal(
    reasonOf(() =>
      readCallerClaims(
        `Bearer ${new UnsecuredJWT({ role: "authenticated", sub: "x", exp }).encode()}`,
      )
    ),
    "invalid",
  );
});

Deno.test("requireUser accepts a user and refuses API keys", async () => {
  const user = readCallerClaims(`Bearer ${await token({ role: "authenticated", sub: USER_ID })}`);
  assert.equal(requireUser(user).sub, USER_ID);
  const anon = readCallerClaims(`Bearer ${await token({ role: "anon" })}`);
  assert.equal(reasonOf(() => requireUser(anon)), "not_a_user");
  const service = readCallerClaims(`Bearer ${await token({ role: "service_role" })}`);
  assert.equal(reasonOf(() => requireUser(service)), "not_a_user");
});

Deno.test("readCallerClaims refuses a validly signed token without exp: it would never expire", async () => {
  const header = `Bearer ${await token({ role: "service_role", exp: undefined })}`;
  assert.equal(reasonOf(() => readCallerClaims(header)), "invalid");
  try {
    readCallerClaims(header);
  } catch (err) {
    assert.match((err as ApiError).message, /claims are invalid \(exp\)/);
  }
  const notANumber = `Bearer ${await token({ role: "anon", exp: "2099-01-01" })}`;
  assert.equal(reasonOf(() => readCallerClaims(notANumber)), "invalid");
});

Deno.test("readCallerClaims refuses a token from its exp on, counted in whole seconds as the gateway does", async () => {
  const exp = 2_000_000_000;
  const header = `Bearer ${await token({ role: "anon", exp })}`;
  assert.equal(readCallerClaims(header, { now: () => exp * 1000 - 1 }).exp, exp);
  assert.equal(reasonOf(() => readCallerClaims(header, { now: () => exp * 1000 })), "expired");
});
