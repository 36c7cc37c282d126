import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { ApiError, errorBody, notFound, onError, readJsonBody } from "./http.ts";

function appThrowing(err: Error) {
  const app = new Hono();
  app.onError(onError);
  app.notFound(notFound);
  app.get("/boom", () => {
    throw err;
  });
  return app;
}

Deno.test("errorBody fills in empty details", () => {
  assert.deepEqual(errorBody("x", "Cannot x: y"), {
    error: { code: "x", message: "Cannot x: y", details: {} },
  });
});

Deno.test("onError shapes an ApiError with its status, code and details", async () => {
  const res = await appThrowing(
    new ApiError(403, "forbidden", "Cannot do it: no", { role: "anon" }),
  )
    .request("/boom");
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), {
    error: { code: "forbidden", message: "Cannot do it: no", details: { role: "anon" } },
  });
});

Deno.test("onError shapes a plain HTTPException with a code derived from its status", async () => {
  const res = await appThrowing(new HTTPException(413, { message: "too big" })).request("/boom");
  assert.equal(res.status, 413);
  assert.deepEqual(await res.json(), {
    error: { code: "payload_too_large", message: "too big", details: {} },
  });
});

Deno.test("onError hides unexpected errors behind a generic 500", async () => {
  const original = console.error;
  console.error = () => {};
  try {
    const res = await appThrowing(new Error("password=hunter2 at line 3")).request("/boom");
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.ok(!text.includes("hunter2"));
    assert.equal(JSON.parse(text).error.code, "internal_error");
  } finally {
    console.error = original;
  }
});

Deno.test("notFound answers 404 in the error shape", async () => {
  const res = await appThrowing(new Error()).request("/nowhere", { method: "POST" });
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), {
    error: { code: "not_found", message: "Cannot find POST /nowhere: no such route", details: {} },
  });
});

const Body = z.object({ n: z.number().int() });

Deno.test("readJsonBody parses a valid body", async () => {
  const req = new Request("http://x/", { method: "POST", body: '{"n":3}' });
  assert.deepEqual(await readJsonBody(req, Body), { n: 3 });
});

Deno.test("readJsonBody reads an empty optional body as {}", async () => {
  const req = new Request("http://x/", { method: "POST" });
  const parsed = await readJsonBody(req, z.object({ s: z.string().default("d") }), {
    optional: true,
  });
  assert.deepEqual(parsed, { s: "d" });
});

Deno.test("readJsonBody refuses invalid JSON with 400 invalid_json", async () => {
  const req = new Request("http://x/", { method: "POST", body: "{nope" });
  await assert.rejects(
    readJsonBody(req, Body),
    (err: unknown) => err instanceof ApiError && err.status === 400 && err.code === "invalid_json",
  );
});

Deno.test("readJsonBody refuses a body not matching the schema with the zod path", async () => {
  const req = new Request("http://x/", { method: "POST", body: '{"n":"3"}' });
  await assert.rejects(readJsonBody(req, Body), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, "invalid_request");
    const issues = err.details.issues as { path: string[]; message: string }[];
    assert.deepEqual(issues[0].path, ["n"]);
    return true;
  });
});
