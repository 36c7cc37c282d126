import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { ofrepProblems } from "../../../tests/ofrep_definition.ts";
import { createFlagCache } from "../_shared/flags/cache.ts";
import { createFlagsApp, FlagsEnvSchema, MAX_REQUEST_BYTES } from "./app.ts";

const BASE = "/flags/ofrep/v1/evaluate/flags";
const USER = "6f1c8a0e-2b1d-4c55-9d0a-3e7f4b2a1c90";

const DEFS = [
  { key: "dark_mode", targeting_rules: [], variants: [] },
  { key: "half", rollout_percent: 50, targeting_rules: [], variants: [] },
  {
    key: "theme",
    targeting_rules: [],
    variants: [{ name: "blue", weight: 1, payload: "blue" }, { name: "red", weight: 1 }],
  },
  { key: "broken", targeting_rules: [{ attribute: "tier", op: "like" }], variants: [] },
].map((d) => ({ enabled: true, rollout_percent: 100, stickiness: "default", ...d }));

function app(opts: { origins?: string[]; fail?: boolean } = {}) {
  let checks = 0;
  const flags = createFlagCache((known) => {
    checks++;
    if (opts.fail) return Promise.reject(new Error("the database is down"));
    return Promise.resolve({ version: "v1", definitions: known === "v1" ? null : DEFS });
  });
  const a = createFlagsApp({ flags, origins: opts.origins });
  return { app: a, checks: () => checks };
}

async function bearer(claims: Record<string, unknown>): Promise<string> {
  const jwt = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode("verified upstream by the gateway"));
  return `Bearer ${jwt}`;
}

const ANON = await bearer({ role: "anon" });

function post(
  a: ReturnType<typeof app>["app"],
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return a.request(path, {
    method: "POST",
    headers: { authorization: ANON, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The answer, checked against OFREP's schema for its route and status. */
async function answer(res: Response, route: "single" | "bulk") {
  const body = await res.json();
  assert.deepEqual(ofrepProblems(route, res.status, body), [], JSON.stringify(body));
  return body;
}

Deno.test("flags app: single evaluation answers with OFREP's shapes and status codes", async () => {
  const { app: a } = app();
  const cases: [string, unknown, number, Record<string, unknown>][] = [
    ["dark_mode", { context: {} }, 200, { value: true, variant: "on", reason: "STATIC" }],
    ["nope", { context: {} }, 404, { errorCode: "FLAG_NOT_FOUND" }],
    ["half", { context: {} }, 400, { errorCode: "TARGETING_KEY_MISSING" }],
    ["broken", { context: {} }, 400, { errorCode: "PARSE_ERROR" }],
    ["dark_mode", "{", 400, { errorCode: "PARSE_ERROR" }],
    ["dark_mode", { context: [] }, 400, { errorCode: "INVALID_CONTEXT" }],
  ];
  for (const [key, body, status, expected] of cases) {
    const res = await post(a, `${BASE}/${key}`, body);
    assert.equal(res.status, status, `${key} ${JSON.stringify(body)}`);
    const got = await answer(res, "single");
    assert.equal(got.key, key);
    for (const [field, value] of Object.entries(expected)) assert.equal(got[field], value, field);
  }
});

Deno.test("flags app: a user's token makes the user id the default targeting key", async () => {
  const { app: a } = app();
  const user = await bearer({ role: "authenticated", sub: USER });
  const res = await post(a, `${BASE}/half`, { context: {} }, { authorization: user });
  assert.equal(res.status, 200);
  const asUser = await answer(res, "single");
  const explicit = await answer(
    await post(a, `${BASE}/half`, { context: { targetingKey: USER } }),
    "single",
  );
  assert.deepEqual(asUser, explicit);
});

Deno.test("flags app: bulk evaluation with an ETag, 304 when If-None-Match names it", async () => {
  const { app: a, checks } = app();
  const res = await post(a, BASE, { context: { targetingKey: "u1" } });
  assert.equal(res.status, 200);
  const etag = res.headers.get("etag")!;
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  const body = await answer(res, "bulk");
  assert.deepEqual(body.flags.map((f: { key: string }) => f.key), DEFS.map((d) => d.key));
  assert.equal(
    body.flags.find((f: { key: string }) => f.key === "broken").errorCode,
    "PARSE_ERROR",
  );

  const again = await post(a, BASE, { context: { targetingKey: "u1" } }, {
    "if-none-match": etag,
  });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), etag);
  assert.equal(await again.text(), "");
  const other = await post(a, BASE, { context: { targetingKey: "u2" } }, {
    "if-none-match": etag,
  });
  assert.equal(other.status, 200, "another context is another answer");
  assert.equal(checks(), 3, "every request checked the definitions' version");

  const bad = await post(a, BASE, '{"context": 1}');
  assert.equal(bad.status, 400);
  assert.equal((await answer(bad, "bulk")).errorCode, "INVALID_CONTEXT");
});

Deno.test("flags app: no token is 401; an oversized body 413; a failing store 500 with OFREP's general shape", async () => {
  const { app: a } = app();
  const res = await a.request(BASE, { method: "POST", body: "{}" });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.details.reason, "missing");
  const big = await post(a, BASE, { context: { x: "y".repeat(MAX_REQUEST_BYTES) } });
  assert.equal(big.status, 413);
  const failing = await post(app({ fail: true }).app, BASE, { context: {} });
  assert.equal(failing.status, 500);
  assert.deepEqual(await answer(failing, "bulk"), {
    errorDetails: "Cannot evaluate flags: an unexpected error occurred",
  });
});

Deno.test("flags app: CORS for listed origins lets the page send If-None-Match and read ETag", async () => {
  const { app: a } = app({ origins: ["https://app.example"] });
  const preflight = await a.request(BASE, {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type, if-none-match",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(preflight.headers.get("access-control-allow-headers")!, /if-none-match/);
  const res = await post(a, BASE, { context: {} }, { origin: "https://app.example" });
  assert.equal(res.headers.get("access-control-expose-headers"), "etag");
  const stranger = await post(a, BASE, { context: {} }, { origin: "https://evil.example" });
  assert.equal(stranger.headers.get("access-control-allow-origin"), null);
});

Deno.test("FlagsEnvSchema: the check interval defaults to 0 and refuses nonsense", () => {
  assert.equal(FlagsEnvSchema.parse({}).STAGECOACH_FLAGS_MAX_AGE_MS, 0);
  assert.equal(
    FlagsEnvSchema.parse({ STAGECOACH_FLAGS_MAX_AGE_MS: "1000" }).STAGECOACH_FLAGS_MAX_AGE_MS,
    1000,
  );
  assert.equal(FlagsEnvSchema.safeParse({ STAGECOACH_FLAGS_MAX_AGE_MS: "soon" }).success, false);
});
