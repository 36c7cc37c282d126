import assert from "node:assert/strict";
import { createGatewayApp, verifyBearer } from "./gateway_app.ts";
import { JwtError, signJwt } from "./jwt.ts";

const SECRET = "gateway-test-secret-with-at-least-32-characters";

interface Forwarded {
  url: string;
  method: string;
  headers: Headers;
  body: Uint8Array;
}

function fakeGateway() {
  const forwarded: Forwarded[] = [];
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [
      { name: "ops", verifyJwt: true },
      { name: "stripe-webhook", verifyJwt: false },
    ],
    resolveUpstream: () => Promise.resolve("http://127.0.0.1:9"),
    fetch: async (request) => {
      forwarded.push({
        url: request.url,
        method: request.method,
        headers: request.headers,
        body: new Uint8Array(await request.arrayBuffer()),
      });
      return Response.json({ from: "upstream" }, { status: 201, headers: { "x-fn": "yes" } });
    },
  });
  return { app, forwarded };
}

async function errorOf(res: Response) {
  return (await res.json()) as {
    error: { code: string; message: string; details: Record<string, unknown> };
  };
}

Deno.test("gateway /health reports the environment and its functions", async () => {
  const { app } = fakeGateway();
  const res = await app.request("/health");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    ok: true,
    env: "development",
    functions: ["ops", "stripe-webhook"],
  });
});

Deno.test("gateway refuses a request without an Authorization header with reason missing", async () => {
  const { app, forwarded } = fakeGateway();
  const res = await app.request("/functions/v1/ops/me");
  assert.equal(res.status, 401);
  const body = await errorOf(res);
  assert.equal(body.error.code, "unauthorized");
  assert.deepEqual(body.error.details, { reason: "missing" });
  assert.equal(forwarded.length, 0);
});

Deno.test("gateway refuses a token that is not a JWT with reason malformed", async () => {
  const { app } = fakeGateway();
  for (const header of ["Bearer not-a-jwt", "Basic dXNlcjpwdw==", "Bearer"]) {
    const res = await app.request("/functions/v1/ops/me", { headers: { authorization: header } });
    assert.equal(res.status, 401, header);
    assert.deepEqual((await errorOf(res)).error.details, { reason: "malformed" }, header);
  }
});

Deno.test("gateway refuses a token signed with another secret with reason bad_signature", async () => {
  const { app } = fakeGateway();
  const token = await signJwt("another-secret-with-at-least-32-characters!", { role: "anon" });
  const res = await app.request("/functions/v1/ops/me", {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 401);
  assert.deepEqual((await errorOf(res)).error.details, { reason: "bad_signature" });
});

Deno.test("gateway refuses an expired token with reason expired", async () => {
  const { app } = fakeGateway();
  const token = await signJwt(SECRET, { role: "anon", exp: Math.floor(Date.now() / 1000) - 60 });
  const res = await app.request("/functions/v1/ops/me", {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 401);
  const body = await errorOf(res);
  assert.deepEqual(body.error.details, { reason: "expired" });
  assert.match(body.error.message, /^Cannot verify token/);
});

Deno.test("gateway does not accept the apikey header instead of Authorization", async () => {
  const { app } = fakeGateway();
  const token = await signJwt(SECRET, { role: "anon" });
  const res = await app.request("/functions/v1/ops/me", { headers: { apikey: token } });
  assert.equal(res.status, 401);
  assert.deepEqual((await errorOf(res)).error.details, { reason: "missing" });
});

Deno.test("gateway forwards a verified request with its path, query, method, headers and raw body", async () => {
  const { app, forwarded } = fakeGateway();
  const token = await signJwt(SECRET, { role: "service_role" });
  const bytes = new Uint8Array([0, 1, 2, 0xff, 0xfe, 10, 13, 0x80]);
  const res = await app.request("/functions/v1/ops/plans/a%20b?x=1&y=%2F", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
    body: bytes,
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("x-fn"), "yes");
  assert.deepEqual(await res.json(), { from: "upstream" });
  assert.equal(forwarded.length, 1);
  const [req] = forwarded;
  assert.equal(req.url, "http://127.0.0.1:9/ops/plans/a%20b?x=1&y=%2F");
  assert.equal(req.method, "POST");
  assert.equal(req.headers.get("authorization"), `Bearer ${token}`);
  assert.equal(req.headers.get("content-type"), "application/octet-stream");
  assert.deepEqual(req.body, bytes);
});

Deno.test("gateway forwards the bare function path as /<name>", async () => {
  const { app, forwarded } = fakeGateway();
  const token = await signJwt(SECRET, { role: "anon" });
  await app.request("/functions/v1/ops", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(forwarded[0].url, "http://127.0.0.1:9/ops");
});

Deno.test("gateway forwards to a verify_jwt=false function without a token", async () => {
  const { app, forwarded } = fakeGateway();
  const payload = '{"id":"evt_1","object":"event"}';
  const res = await app.request("/functions/v1/stripe-webhook", {
    method: "POST",
    headers: { "stripe-signature": "t=1,v1=abc" },
    body: payload,
  });
  assert.equal(res.status, 201);
  assert.equal(forwarded[0].url, "http://127.0.0.1:9/stripe-webhook");
  assert.equal(forwarded[0].headers.get("stripe-signature"), "t=1,v1=abc");
  assert.equal(new TextDecoder().decode(forwarded[0].body), payload);
});

Deno.test("gateway lets CORS preflights through without a token", async () => {
  const { app, forwarded } = fakeGateway();
  const res = await app.request("/functions/v1/ops/me", { method: "OPTIONS" });
  assert.equal(res.status, 201);
  assert.equal(forwarded[0].method, "OPTIONS");
});

Deno.test("gateway answers 404 in the error shape for an unknown function", async () => {
  const { app, forwarded } = fakeGateway();
  for (const path of ["/functions/v1/nope/x", "/functions/v1/", "/functions/v1/_shared/db.ts"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    assert.equal((await errorOf(res)).error.code, "not_found", path);
  }
  assert.equal((await app.request("/elsewhere")).status, 404);
  assert.equal(forwarded.length, 0);
});

Deno.test("gateway answers 503 boot_error when the function cannot start", async () => {
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [{ name: "broken", verifyJwt: false }],
    resolveUpstream: () => Promise.reject(new Error("exited with code 1 before listening")),
  });
  const res = await app.request("/functions/v1/broken");
  assert.equal(res.status, 503);
  const body = await errorOf(res);
  assert.equal(body.error.code, "boot_error");
  assert.match(body.error.message, /^Cannot start function "broken": exited with code 1/);
});

Deno.test("gateway answers 502 bad_gateway when the function does not answer", async () => {
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [{ name: "gone", verifyJwt: false }],
    resolveUpstream: () => Promise.resolve("http://127.0.0.1:9"),
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  const res = await app.request("/functions/v1/gone");
  assert.equal(res.status, 502);
  assert.equal((await errorOf(res)).error.code, "bad_gateway");
});

Deno.test("verifyBearer accepts a valid token and reports the reason of a refusal", async () => {
  await verifyBearer(`Bearer ${await signJwt(SECRET, { role: "anon" })}`, SECRET);
  await assert.rejects(
    verifyBearer(undefined, SECRET),
    (err: unknown) => err instanceof JwtError && err.reason === "missing",
  );
  await assert.rejects(
    verifyBearer(`Bearer ${await signJwt(SECRET, { role: 1 as unknown as string })}`, SECRET),
    (err: unknown) => err instanceof JwtError && err.reason === "invalid",
  );
});
