import assert from "node:assert/strict";
import { SignJWT } from "jose";
import type { Sql } from "../_shared/db.ts";
import type { FunctionEnv } from "../_shared/env.ts";
import { createOpsApp } from "./app.ts";

const ENV: FunctionEnv = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  SUPABASE_ANON_KEY: "anon",
  SUPABASE_SERVICE_ROLE_KEY: "service",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
  STAGECOACH_ENV: "staging",
};

/** A database that must not be reached: these tests cover what happens before SQL. */
const NO_DB = new Proxy({}, {
  get() {
    throw new Error("the database must not be used");
  },
}) as unknown as Sql;

function app() {
  return createOpsApp({ env: ENV, sql: NO_DB });
}

async function bearer(claims: Record<string, unknown>): Promise<string> {
  const jwt = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode("verified upstream by the gateway"));
  return `Bearer ${jwt}`;
}

Deno.test("GET /ops/health reports the environment", async () => {
  const res = await app().request("/ops/health");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, env: "staging" });
});

Deno.test("GET /ops/me without a token is 401 with reason missing", async () => {
  const res = await app().request("/ops/me");
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.equal(body.error.code, "unauthorized");
  assert.deepEqual(body.error.details, { reason: "missing" });
});

Deno.test("GET /ops/me with the anon or service-role key is 401: they are not users", async () => {
  for (const role of ["anon", "service_role"]) {
    const res = await app().request("/ops/me", {
      headers: { authorization: await bearer({ role }) },
    });
    assert.equal(res.status, 401, role);
    assert.deepEqual((await res.json()).error.details, { reason: "not_a_user" });
  }
});

Deno.test("GET /ops/me with claims of the wrong shape is 401 with reason invalid", async () => {
  const res = await app().request("/ops/me", {
    headers: { authorization: await bearer({ role: "postgres", sub: crypto.randomUUID() }) },
  });
  assert.equal(res.status, 401);
  assert.deepEqual((await res.json()).error.details, { reason: "invalid" });
});

Deno.test("unknown ops routes are 404 in the error shape", async () => {
  const res = await app().request("/ops/nope");
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, "not_found");
});

function appAllowing(origins: string) {
  return createOpsApp({ env: { ...ENV, STAGECOACH_ALLOWED_ORIGINS: origins }, sql: NO_DB });
}

Deno.test("GET /ops/health answers the status page's origin with CORS, preflight first", async () => {
  const app = appAllowing("https://status.example");
  const pre = await app.request("/ops/health", {
    method: "OPTIONS",
    headers: { origin: "https://status.example", "access-control-request-method": "GET" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://status.example");
  const res = await app.request("/ops/health", { headers: { origin: "https://status.example" } });
  assert.deepEqual(await res.json(), { ok: true, env: "staging" });
  assert.equal(res.headers.get("access-control-allow-origin"), "https://status.example");
});

Deno.test("CORS stays on /ops/health for listed origins: other routes and origins get none", async () => {
  const listed = appAllowing("https://status.example");
  const me = await listed.request("/ops/me", { headers: { origin: "https://status.example" } });
  assert.equal(me.headers.get("access-control-allow-origin"), null);
  const other = await listed.request("/ops/health", {
    headers: { origin: "https://evil.example" },
  });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const none = await app().request("/ops/health", {
    headers: { origin: "https://status.example" },
  });
  assert.equal(none.headers.get("access-control-allow-origin"), null);
});

Deno.test("createOpsApp refuses an allowed-origins secret that is not a list of origins", () => {
  assert.throws(() => appAllowing("https://status.example/"), /STAGECOACH_ALLOWED_ORIGINS/);
});

const CONSOLE = "http://127.0.0.1:54330";

function appForConsole(consoleOrigins: string, statusOrigins?: string) {
  return createOpsApp({
    env: {
      ...ENV,
      STAGECOACH_CONSOLE_ORIGINS: consoleOrigins,
      STAGECOACH_ALLOWED_ORIGINS: statusOrigins,
    },
    sql: NO_DB,
  });
}

Deno.test("the console's origin gets CORS on every ops route: preflight with supabase-js's headers", async () => {
  const app = appForConsole(`https://console.example, ${CONSOLE}`);
  for (const path of ["/ops/me", "/ops/promotions", "/ops/health"]) {
    const pre = await app.request(path, {
      method: "OPTIONS",
      headers: {
        origin: CONSOLE,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,x-client-info,apikey,content-type",
      },
    });
    assert.equal(pre.status, 204, path);
    assert.equal(pre.headers.get("access-control-allow-origin"), CONSOLE);
    assert.match(pre.headers.get("vary") ?? "", /Origin/);
    assert.deepEqual(
      (pre.headers.get("access-control-allow-methods") ?? "").split(",").sort(),
      ["GET", "OPTIONS", "POST", "PUT"],
    );
    assert.deepEqual(
      (pre.headers.get("access-control-allow-headers") ?? "").split(",").sort(),
      ["apikey", "authorization", "content-type", "x-client-info"],
    );
  }
  // The actual call is answered with the origin too, even when refused (so the browser shows
  // the console the 401 instead of a CORS failure).
  const me = await app.request("/ops/me", { headers: { origin: CONSOLE } });
  assert.equal(me.status, 401);
  assert.equal(me.headers.get("access-control-allow-origin"), CONSOLE);
  assert.match(me.headers.get("vary") ?? "", /Origin/);
});

Deno.test("an origin not listed for the console gets no CORS headers, preflight or not", async () => {
  const app = appForConsole(CONSOLE, "https://status.example");
  const pre = await app.request("/ops/me", {
    method: "OPTIONS",
    headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
  });
  assert.notEqual(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), null);
  const me = await app.request("/ops/me", { headers: { origin: "https://evil.example" } });
  assert.equal(me.headers.get("access-control-allow-origin"), null);
  assert.match(me.headers.get("vary") ?? "", /Origin/);
  // The status page's origin still reaches /health only.
  const status = await app.request("/ops/me", { headers: { origin: "https://status.example" } });
  assert.equal(status.headers.get("access-control-allow-origin"), null);
  const health = await app.request("/ops/health", {
    headers: { origin: "https://status.example" },
  });
  assert.equal(health.headers.get("access-control-allow-origin"), "https://status.example");
});

Deno.test("createOpsApp refuses console origins that are not origins, naming the secret", () => {
  assert.throws(
    () => appForConsole("http://127.0.0.1:54330/console"),
    /Cannot read STAGECOACH_CONSOLE_ORIGINS: http:\/\/127\.0\.0\.1:54330\/console is not an origin/,
  );
});
