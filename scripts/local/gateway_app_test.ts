import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { createBearerVerifier, createGatewayApp, verifyBearer } from "./gateway_app.ts";
import { createUpstreamClient, type UpstreamRequest } from "./gateway_upstream.ts";
import { JwtError, signJwt } from "./jwt.ts";

const SECRET = "gateway-test-secret-with-at-least-32-characters";

interface Forwarded {
  url: string;
  method: string;
  headers: Headers;
  body: Uint8Array;
  /** How the body was handed over: whole, as a stream, or not at all. */
  mode: "whole" | "stream" | "none";
  bodyLength?: number;
}

async function bytesOf(body: UpstreamRequest["body"]): Promise<Uint8Array> {
  if (body === null) return new Uint8Array();
  if (body instanceof Uint8Array) return body;
  return new Uint8Array(await new Response(body).arrayBuffer());
}

function fakeGateway(opts: { maxBufferedBytes?: number } = {}) {
  const forwarded: Forwarded[] = [];
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [
      { name: "ops", verifyJwt: true },
      { name: "stripe-webhook", verifyJwt: false },
    ],
    resolveUpstream: () => Promise.resolve("http://127.0.0.1:9"),
    maxBufferedBytes: opts.maxBufferedBytes,
    send: async (base, request) => {
      forwarded.push({
        url: `${base}${request.target}`,
        method: request.method,
        headers: new Headers([...request.headers]),
        body: await bytesOf(request.body),
        mode: request.body === null
          ? "none"
          : request.body instanceof Uint8Array
          ? "whole"
          : "stream",
        bodyLength: request.bodyLength,
      });
      return Response.json({ from: "upstream" }, { status: 201, headers: { "x-fn": "yes" } });
    },
  });
  return { app, forwarded };
}

/** Every byte value, and UTF-8 that is not ASCII: what a Stripe signature must see unchanged. */
function awkwardBytes(): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(256 + 8);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  bytes.set(new TextEncoder().encode("Zoë ✓"), 256);
  return bytes;
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

Deno.test("gateway refuses a validly signed token without exp with reason invalid", async () => {
  const { app, forwarded } = fakeGateway();
  // Signed with the environment's own secret, but made to last for ever.
  const token = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(SECRET));
  const res = await app.request("/functions/v1/ops/me", {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 401);
  const body = await errorOf(res);
  assert.deepEqual(body.error.details, { reason: "invalid" });
  assert.equal(body.error.message, "Cannot verify token: it has no exp claim, so it never expires");
  assert.equal(forwarded.length, 0);
});

Deno.test("signJwt always sets exp: an hour by default, the caller's exp when given", async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = await verifyBearer(`Bearer ${await signJwt(SECRET, { role: "anon" })}`, SECRET);
  assert.ok(claims.exp! >= now + 3599 && claims.exp! <= now + 3601, `exp ${claims.exp}`);
  const own = await verifyBearer(
    `Bearer ${await signJwt(SECRET, { role: "anon", exp: now + 60 })}`,
    SECRET,
  );
  assert.equal(own.exp, now + 60);
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
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/octet-stream",
      "content-length": String(bytes.length),
    },
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
    headers: { "stripe-signature": "t=1,v1=abc", "content-length": String(payload.length) },
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

Deno.test("gateway answers 404 NOT_FOUND, as Supabase, for a function never deployed", async () => {
  const { app, forwarded } = fakeGateway();
  for (const path of ["/functions/v1/nope/x", "/functions/v1/", "/functions/v1/_shared/db.ts"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    assert.deepEqual(
      await res.json(),
      { code: "NOT_FOUND", message: "Requested function was not found" },
      path,
    );
  }
  assert.equal((await app.request("/elsewhere")).status, 404);
  assert.equal(forwarded.length, 0);
});

Deno.test("gateway answers 503 BOOT_ERROR, as Supabase, when the function cannot start", async () => {
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [{ name: "broken", verifyJwt: false }],
    resolveUpstream: () => Promise.reject(new Error("exited with code 1 before listening")),
  });
  const res = await app.request("/functions/v1/broken");
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), {
    code: "BOOT_ERROR",
    message: "Function failed to start (please check logs)",
  });
});

Deno.test("gateway serves the functions of a live Map and reloads only with the token", async () => {
  const functions = new Map<string, { name: string; verifyJwt: boolean }>();
  let reloads = 0;
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions,
    resolveUpstream: () => Promise.resolve("http://127.0.0.1:9"),
    send: () => Promise.resolve(new Response("up")),
    reload: {
      token: "sbp_token",
      run: () => {
        reloads++;
        functions.set("late", { name: "late", verifyJwt: false });
        return Promise.resolve();
      },
    },
  });
  assert.equal((await app.request("/functions/v1/late")).status, 404);
  const refused = await app.request("/_stagecoach/reload", { method: "POST" });
  assert.equal(refused.status, 401);
  assert.equal(reloads, 0);
  const ok = await app.request("/_stagecoach/reload", {
    method: "POST",
    headers: { authorization: "Bearer sbp_token" },
  });
  assert.equal(ok.status, 204);
  assert.equal(await (await app.request("/functions/v1/late")).text(), "up");
  assert.deepEqual((await (await app.request("/health")).json()).functions, ["late"]);
});

Deno.test("gateway answers 502 bad_gateway when the function does not answer", async () => {
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [{ name: "gone", verifyJwt: false }],
    resolveUpstream: () => Promise.resolve("http://127.0.0.1:9"),
    send: () => Promise.reject(new TypeError("connection refused")),
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

Deno.test("gateway forwards a body that declares a length within the limit whole, byte for byte", async () => {
  const { app, forwarded } = fakeGateway();
  const bytes = awkwardBytes();
  await app.request("/functions/v1/stripe-webhook", {
    method: "POST",
    headers: { "content-length": String(bytes.length) },
    body: bytes,
  });
  assert.equal(forwarded[0].mode, "whole");
  assert.deepEqual(forwarded[0].body, bytes);
});

Deno.test("gateway streams a body larger than the limit with its declared length", async () => {
  const { app, forwarded } = fakeGateway({ maxBufferedBytes: 16 });
  const bytes = awkwardBytes();
  await app.request("/functions/v1/stripe-webhook", {
    method: "POST",
    headers: { "content-length": String(bytes.length) },
    body: bytes,
  });
  assert.equal(forwarded[0].mode, "stream");
  assert.equal(forwarded[0].bodyLength, bytes.length);
  assert.deepEqual(forwarded[0].body, bytes);
});

Deno.test("gateway streams a body without a declared length, without inventing one", async () => {
  const { app, forwarded } = fakeGateway();
  const bytes = awkwardBytes();
  await app.request("/functions/v1/stripe-webhook", {
    method: "POST",
    body: new Blob([bytes.subarray(0, 100), bytes.subarray(100)]).stream(),
  });
  assert.equal(forwarded[0].mode, "stream");
  assert.equal(forwarded[0].bodyLength, undefined);
  assert.deepEqual(forwarded[0].body, bytes);
});

Deno.test("gateway forwards no body for GET and HEAD", async () => {
  const { app, forwarded } = fakeGateway();
  await app.request("/functions/v1/stripe-webhook/x", { method: "GET" });
  await app.request("/functions/v1/stripe-webhook/x", { method: "HEAD" });
  assert.deepEqual(forwarded.map((f) => [f.method, f.mode]), [["GET", "none"], ["HEAD", "none"]]);
});

Deno.test("gateway forwards through the upstream client to a real server byte for byte", async () => {
  const seen: { url: string; headers: Headers; body: Uint8Array }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      seen.push({
        url: req.url,
        headers: req.headers,
        body: new Uint8Array(await req.arrayBuffer()),
      });
      return new Response(new Uint8Array([0xff, 0x00, 0xc3, 0xa9]), {
        status: 400,
        headers: { "x-fn": "yes", "keep-alive": "timeout=5" },
      });
    },
  );
  const client = createUpstreamClient({ maxBufferedBytes: 64 });
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [{ name: "stripe-webhook", verifyJwt: false }],
    resolveUpstream: () => Promise.resolve(`http://127.0.0.1:${server.addr.port}`),
    send: client.send,
  });
  try {
    const bytes = awkwardBytes();
    // Within the limit (whole), over it (streamed with its length), and without a length.
    const bodies: [Record<string, string>, BodyInit][] = [
      [{ "content-length": "60" }, bytes.slice(0, 60)],
      [{ "content-length": String(bytes.length) }, bytes],
      [{}, new Blob([bytes]).stream()],
    ];
    for (const [headers, body] of bodies) {
      const res = await app.request("/functions/v1/stripe-webhook/a%20b?x=1&y=%2F", {
        method: "POST",
        headers: { ...headers, "stripe-signature": "t=1,v1=abc", connection: "keep-alive" },
        body,
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get("x-fn"), "yes");
      assert.equal(res.headers.get("keep-alive"), null);
      assert.deepEqual(
        new Uint8Array(await res.arrayBuffer()),
        new Uint8Array([0xff, 0, 0xc3, 0xa9]),
      );
    }
    assert.equal(seen.length, 3);
    for (const [i, s] of seen.entries()) {
      assert.equal(s.url, `http://127.0.0.1:${server.addr.port}/stripe-webhook/a%20b?x=1&y=%2F`);
      assert.equal(s.headers.get("stripe-signature"), "t=1,v1=abc");
      assert.equal(s.headers.get("connection"), null);
      assert.deepEqual(s.body, i === 0 ? bytes.slice(0, 60) : bytes);
    }
    assert.equal(seen[0].headers.get("content-length"), "60");
    assert.equal(seen[1].headers.get("content-length"), String(bytes.length));
    assert.equal(seen[2].headers.get("transfer-encoding"), "chunked");
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("gateway answers 502 bad_gateway through the upstream client when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = createUpstreamClient();
  const app = createGatewayApp({
    envName: "development",
    jwtSecret: SECRET,
    functions: [{ name: "gone", verifyJwt: false }],
    resolveUpstream: () => Promise.resolve(`http://127.0.0.1:${port}`),
    send: client.send,
  });
  try {
    const res = await app.request("/functions/v1/gone", { method: "POST", body: "{}" });
    assert.equal(res.status, 502);
    const body = await errorOf(res);
    assert.equal(body.error.code, "bad_gateway");
    assert.match(body.error.message, /^Cannot reach function "gone": /);
    assert.deepEqual(body.error.details, { function: "gone" });
  } finally {
    client.close();
  }
});

Deno.test("createBearerVerifier still refuses what verifyBearer refuses", async () => {
  const verify = createBearerVerifier(SECRET, { maxTokens: 1 });
  const good = `Bearer ${await signJwt(SECRET, { role: "anon" })}`;
  const other = `Bearer ${await signJwt(SECRET, { role: "service_role" })}`;
  const forged = `Bearer ${await signJwt("another-secret-with-at-least-32-characters!", {
    role: "anon",
  })}`;
  await verify(good);
  await verify(other); // forgets `good`, which still verifies in full
  await verify(good);
  for (
    const [header, reason] of [
      [undefined, "missing"],
      ["Basic dXNlcjpwdw==", "malformed"],
      [forged, "bad_signature"],
    ] as const
  ) {
    await assert.rejects(
      verify(header),
      (err: unknown) => err instanceof JwtError && err.reason === reason,
    );
  }
});

Deno.test("createBearerVerifier never remembers a token without exp: each use is refused in full", async () => {
  const verify = createBearerVerifier(SECRET);
  const forever = `Bearer ${await new SignJWT({ role: "anon" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(SECRET))}`;
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      verify(forever),
      (err: unknown) => err instanceof JwtError && err.reason === "invalid",
    );
  }
});

Deno.test("createBearerVerifier answers from memory until exp, measured as jwtVerify measures it", async () => {
  let nowMs = Date.now();
  const verify = createBearerVerifier(SECRET, { now: () => nowMs });
  const exp = Math.floor(Date.now() / 1000) + 1;
  const header = `Bearer ${await signJwt(SECRET, { role: "anon", exp })}`;
  await verify(header);
  // Once the token has really expired, only the verifier's memory can still accept it.
  await new Promise((r) => setTimeout(r, exp * 1000 + 20 - Date.now()));
  await assert.rejects(verifyBearer(header, SECRET), /expired/);
  nowMs = exp * 1000 - 1;
  await verify(header);
  nowMs = exp * 1000;
  await assert.rejects(
    verify(header),
    (err: unknown) => err instanceof JwtError && err.reason === "expired",
  );
});
