import assert from "node:assert/strict";
import type { Sql } from "postgres";
import { AUTH_SETTINGS, createAuthApp } from "./auth_api.ts";
import { localEnv } from "./config.ts";
import { signAccessToken, signJwt } from "./jwt.ts";

const SECRET = "auth-api-test-secret-with-at-least-32-chars";
const API_KEY = "the-anon-key";
const USER_ID = "6f1c1f43-3f3a-4d55-9a39-0d6b0b0f4a11";
const SESSION_ID = "0b3f7a38-0f7e-4a5e-8a53-3a1d2c9e1f00";
const env = localEnv("development", { home: "/nonexistent", portOffset: 0 });

/**
 * A stand-in for postgres.js answering by the query's text; `null` rows mean "this query must
 * not run".
 */
function fakeSql(rows: { user?: unknown[] | null; session?: unknown[] | null } = {}): Sql {
  return ((strings: TemplateStringsArray) => {
    const text = strings.join("?");
    const answer = /from auth\.sessions/.test(text)
      ? rows.session
      : /from auth\.users/.test(text)
      ? rows.user
      : null;
    if (answer === undefined || answer === null) {
      return Promise.reject(new Error(`unexpected query: ${text}`));
    }
    return Promise.resolve(answer);
  }) as unknown as Sql;
}

function app(sql: Sql = fakeSql()) {
  return createAuthApp({ sql, env, jwtSecret: SECRET, apiKeys: [API_KEY] });
}

const V2024 = { "x-supabase-api-version": "2024-01-01" };

function userToken(claims: { sessionId?: string; sub?: string } = {}) {
  return signAccessToken(SECRET, { id: claims.sub ?? USER_ID, email: "a@stagecoach.test" }, {
    apiUrl: env.apiUrl,
    sessionId: claims.sessionId ?? SESSION_ID,
  });
}

Deno.test("createAuthApp answers the API gateway's 401 without a valid apikey", async () => {
  const none = await app().request("/settings");
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), { message: "No API key found in request" });
  const wrong = await app().request("/settings", { headers: { apikey: "other" } });
  assert.equal(wrong.status, 401);
  assert.deepEqual(await wrong.json(), { message: "Invalid API key" });
});

Deno.test("createAuthApp refuses an unserved grant in both API versions' shapes", async () => {
  const post = (headers: Record<string, string>) =>
    app().request("/token?grant_type=pkce", {
      method: "POST",
      headers: { apikey: API_KEY, ...headers },
      body: "{}",
    });
  const legacy = await post({});
  assert.equal(legacy.status, 400);
  assert.deepEqual(await legacy.json(), {
    code: 400,
    error_code: "invalid_credentials",
    msg: "unsupported_grant_type",
  });
  const current = await post(V2024);
  assert.equal(current.headers.get("x-supabase-api-version"), "2024-01-01");
  assert.deepEqual(await current.json(), {
    code: "invalid_credentials",
    message: "unsupported_grant_type",
  });
});

Deno.test("createAuthApp refuses a refresh token GoTrue would not have issued, touching nothing", async () => {
  for (const refresh_token of [undefined, "", "short", "ABCDEFGHIJKL", "abcdefghijk!"]) {
    const res = await app().request("/token?grant_type=refresh_token", {
      method: "POST",
      headers: { apikey: API_KEY, ...V2024 },
      body: JSON.stringify({ refresh_token }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      code: "validation_failed",
      message: "Refresh token is not valid",
    });
  }
});

Deno.test("GET /user without a Bearer token is 401 no_authorization in both shapes", async () => {
  const legacy = await app().request("/user", { headers: { apikey: API_KEY } });
  assert.equal(legacy.status, 401);
  assert.deepEqual(await legacy.json(), {
    code: 401,
    error_code: "no_authorization",
    msg: "This endpoint requires a valid Bearer token",
  });
  const current = await app().request("/user", {
    headers: { apikey: API_KEY, authorization: "Basic abc", ...V2024 },
  });
  assert.equal(current.status, 401);
  assert.equal((await current.json()).code, "no_authorization");
});

Deno.test("GET /user refuses a bad, expired or subject-less JWT as GoTrue does", async () => {
  const cases: [string, number, string, RegExp][] = [
    [
      await signJwt("another-secret", { role: "authenticated", sub: USER_ID }),
      403,
      "bad_jwt",
      /signature is invalid/,
    ],
    [
      await signJwt(SECRET, { role: "authenticated", sub: USER_ID, exp: 1 }),
      403,
      "bad_jwt",
      /token is expired/,
    ],
    ["not-a-jwt", 403, "bad_jwt", /unable to parse or verify signature/],
    [await signJwt(SECRET, { role: "anon" }), 403, "bad_jwt", /^invalid claim: missing sub claim$/],
    [await userToken({ sub: "nope" }), 400, "bad_jwt", /sub claim must be a UUID/],
  ];
  for (const [token, status, code, message] of cases) {
    const res = await app().request("/user", {
      headers: { apikey: API_KEY, authorization: `Bearer ${token}`, ...V2024 },
    });
    const body = await res.json();
    assert.equal(res.status, status, JSON.stringify(body));
    assert.equal(body.code, code);
    assert.match(body.message, message);
  }
});

Deno.test("GET /user refuses a token whose user or session is gone", async () => {
  const goneUser = await app(fakeSql({ user: [] })).request("/user", {
    headers: { apikey: API_KEY, authorization: `Bearer ${await userToken()}` },
  });
  assert.equal(goneUser.status, 403);
  assert.deepEqual(await goneUser.json(), {
    code: 403,
    error_code: "user_not_found",
    msg: "User from sub claim in JWT does not exist",
  });
  const signedOut = app(fakeSql({ user: [{ banned: false }], session: [{ found: false }] }));
  for (const path of ["/user", "/logout"]) {
    const res = await signedOut.request(path, {
      method: path === "/user" ? "GET" : "POST",
      headers: { apikey: API_KEY, authorization: `Bearer ${await userToken()}`, ...V2024 },
    });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), {
      code: "session_not_found",
      message: "Session from session_id claim in JWT does not exist",
    });
  }
});

Deno.test("POST /logout refuses an unknown scope, ending nothing", async () => {
  // No delete is answered by the fake: a delete would fail the request with a 500.
  const res = await app(fakeSql({ user: [{ banned: false }], session: [{ found: true }] }))
    .request("/logout?scope=everyone", {
      method: "POST",
      headers: { apikey: API_KEY, authorization: `Bearer ${await userToken()}`, ...V2024 },
    });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), {
    code: "validation_failed",
    message: 'Unsupported logout scope "everyone"',
  });
});

Deno.test("GET /settings answers GoTrue's settings: email only, no sign-up", async () => {
  const res = await app().request("/settings", { headers: { apikey: API_KEY } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body, AUTH_SETTINGS);
  assert.equal(body.external.email, true);
  assert.equal(body.external.github, false);
  assert.equal(body.disable_signup, true);
  assert.equal(typeof body.sms_provider, "string");
});

Deno.test("createAuthApp answers any origin's preflight, as Supabase Auth does", async () => {
  const res = await app().request("/token?grant_type=password", {
    method: "OPTIONS",
    headers: {
      origin: "http://127.0.0.1:54330",
      "access-control-request-method": "POST",
      "access-control-request-headers": "apikey,authorization,content-type,x-client-info",
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "http://127.0.0.1:54330");
  assert.match(res.headers.get("access-control-allow-headers") ?? "", /apikey/);
});
