import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { createOpsApp } from "../../ops/app.ts";
import type { Sql } from "../db.ts";
import { JsonNumber, parseJson } from "../json/lossless.ts";
import { ContractError, parseAnswer, PlanRequest, routePath } from "./contract.ts";

/** A database that must not be reached: these tests cover what happens before SQL. */
const NO_DB = new Proxy({}, {
  get() {
    throw new Error("the database must not be used");
  },
}) as unknown as Sql;

function app() {
  return createOpsApp({
    env: {
      SUPABASE_URL: "http://127.0.0.1:54321",
      SUPABASE_ANON_KEY: "anon",
      SUPABASE_SERVICE_ROLE_KEY: "service",
      SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
      STAGECOACH_ENV: "staging",
    },
    sql: NO_DB,
  });
}

async function user(): Promise<string> {
  const jwt = await new SignJWT({
    role: "authenticated",
    sub: crypto.randomUUID(),
    email: "olivia@stagecoach.test",
  }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode("verified upstream by the gateway"));
  return `Bearer ${jwt}`;
}

function post(path: string, body: string, authorization?: string) {
  return app().request(path, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(authorization ? { authorization } : {}),
    },
    body,
  });
}

function issuePaths(error: { issues: { path: PropertyKey[] }[] }): string[] {
  return error.issues.map((i) => i.path.join("."));
}

Deno.test("PlanRequest refuses a malformed plan request, naming the path", () => {
  const cases: [unknown, string][] = [
    [{}, "source"],
    [{ source: "" }, "source"],
    [{ source: "staging", scope: ["config", "everything"] }, "scope.1"],
    [{ source: "staging", scope: [] }, "scope"],
    [{ source: "staging", dry_run: "yes" }, "dry_run"],
    [{ source: "staging", migrations: [] }, "migrations"],
    [
      {
        source: "staging",
        scope: ["schema"],
        migrations: [{ version: "x", name: "a", sha256: "0".repeat(64) }],
      },
      "migrations.0.version",
    ],
  ];
  for (const [body, path] of cases) {
    const parsed = PlanRequest.safeParse(body);
    assert.equal(parsed.success, false, JSON.stringify(body));
    assert.ok(issuePaths(parsed.error!).includes(path), `${JSON.stringify(body)}: ${parsed.error}`);
  }
});

Deno.test("PlanRequest fills the defaults a client may leave out", () => {
  assert.deepEqual(PlanRequest.parse({ source: "staging" }), {
    source: "staging",
    scope: ["config", "tiers", "flags"],
    include_flag_state: false,
    dry_run: false,
  });
});

Deno.test("POST /ops/promotions refuses a malformed body with 400, the zod path and message", async () => {
  const res = await post("/ops/promotions", JSON.stringify({ scope: ["nope"] }), await user());
  assert.equal(res.status, 400);
  const { error } = await res.json();
  assert.equal(error.code, "invalid_request");
  assert.equal(error.message, "Cannot accept the request body: it is invalid");
  const paths = error.details.issues.map((i: { path: string[] }) => i.path.join("."));
  assert.deepEqual(paths.sort(), ["scope.0", "source"]);
  for (const issue of error.details.issues) assert.equal(typeof issue.message, "string");
});

Deno.test("POST /ops/promotions: a body that is not JSON is 400 invalid_json", async () => {
  const res = await post("/ops/promotions", "{not json", await user());
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "invalid_json");
  const plain = await app().request("/ops/promotions", {
    method: "POST",
    headers: { authorization: await user(), "content-type": "text/plain" },
    body: JSON.stringify({ source: "development" }),
  });
  assert.equal(plain.status, 400);
  assert.equal((await plain.json()).error.code, "invalid_json");
});

Deno.test("POST /ops/promotions checks the caller before the body: anonymous is 401", async () => {
  const res = await post("/ops/promotions", "{}");
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, "unauthorized");
});

Deno.test("path parameters are validated by the contract: a bad promotion id is 400", async () => {
  const res = await app().request("/ops/promotions/42", {
    headers: { authorization: await user() },
  });
  assert.equal(res.status, 400);
  const { error } = await res.json();
  assert.equal(error.code, "invalid_request");
  assert.equal(error.message, 'Cannot read promotion id "42": not a uuid');
  const bad = await app().request("/ops/releases?limit=0", {
    headers: { authorization: await user() },
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.message, 'Cannot read limit "0": expected 1..200');
});

const PLAN = {
  format: "stagecoach.plan",
  version: 1,
  source: "development",
  target: "staging",
  scope: ["config"],
  options: { include_flag_state: false },
  risk: "low",
  summary: { create: 1, update: 0, delete: 0, retire: 0, replace: 0, archive: 0 },
  changes: [{
    kind: "config",
    key: "big",
    action: "create",
    risk: "low",
    reasons: [],
    before: null,
    after: { key: "big", value: "BIG" },
  }],
  kept: [],
};

Deno.test("parseAnswer reads lossless JSON: counts as numbers, row values exact", () => {
  const text = JSON.stringify({ empty: false, dry_run: true, plan: PLAN, plan_hash: "h" })
    .replace('"BIG"', "123456789012345678901234567890");
  const out = parseAnswer("promotion.plan", 200, parseJson(text));
  assert.ok(!("promotion" in out));
  assert.equal(out.plan.summary.create, 1);
  const value = out.plan.changes[0].after!.value;
  assert.ok(value instanceof JsonNumber);
  assert.equal(value.text, "123456789012345678901234567890");
});

Deno.test("parseAnswer refuses an answer that does not match the contract, naming the path", () => {
  const body = parseJson(JSON.stringify({
    empty: false,
    promotion: { id: "p", plan: PLAN },
    plan_hash: "h",
  }));
  assert.throws(() => parseAnswer("promotion.plan", 201, body), (err: Error) => {
    assert.ok(err instanceof ContractError);
    assert.equal(err.path, "promotion.source_env");
    assert.match(
      err.message,
      /^Cannot read the answer to POST \/promotions: promotion\.source_env: /,
    );
    return true;
  });
  assert.throws(
    () =>
      parseAnswer(
        "audit.verify",
        200,
        parseJson('{"intact":true,"entries":1.5,"first_broken_id":null}'),
      ),
    /audit\/verify: entries: expected a whole number, got 1\.5/,
  );
  assert.throws(
    () => parseAnswer("me", 204, {}),
    /Cannot read the answer to GET \/me: status 204 is not in the contract/,
  );
});

Deno.test("routePath fills and encodes parameters", () => {
  assert.equal(routePath("promotion.apply", { id: "a b" }), "/promotions/a%20b/apply");
  assert.equal(
    routePath("config.set_secret", { key: "stripe.api_key" }),
    "/config/secrets/stripe.api_key",
  );
  assert.throws(() => routePath("release.show"), /missing parameter id/);
});
