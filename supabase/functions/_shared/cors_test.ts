import assert from "node:assert/strict";
import { Hono } from "hono";
import { allowedOriginsCors, parseAllowedOrigins } from "./cors.ts";

function app(origins: string[]) {
  const app = new Hono();
  app.use("/health", allowedOriginsCors(origins));
  app.get("/health", (c) => c.json({ ok: true }));
  return app;
}

Deno.test("parseAllowedOrigins splits, trims and drops empty entries", () => {
  assert.deepEqual(parseAllowedOrigins(" https://a.example , http://localhost:8080,, "), [
    "https://a.example",
    "http://localhost:8080",
  ]);
  assert.deepEqual(parseAllowedOrigins(undefined), []);
  assert.deepEqual(parseAllowedOrigins(""), []);
});

Deno.test("parseAllowedOrigins refuses what is not an origin, naming it", () => {
  for (const bad of ["https://a.example/", "https://a.example/path", "*", "a.example", "ftp://x"]) {
    assert.throws(
      () => parseAllowedOrigins(bad),
      new RegExp(`${bad.replace(/[*.]/g, "\\$&")} is not`),
    );
  }
});

Deno.test("allowedOriginsCors answers a listed origin's preflight and GET", async () => {
  const pre = await app(["https://status.example"]).request("/health", {
    method: "OPTIONS",
    headers: {
      origin: "https://status.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization,apikey",
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://status.example");
  assert.equal(pre.headers.get("access-control-allow-methods"), "GET");
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /authorization.*apikey/);

  const get = await app(["https://status.example"]).request("/health", {
    headers: { origin: "https://status.example" },
  });
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("access-control-allow-origin"), "https://status.example");
});

Deno.test("allowedOriginsCors adds no CORS header for another origin or an empty list", async () => {
  for (const origins of [["https://status.example"], []]) {
    const get = await app(origins).request("/health", {
      headers: { origin: "https://evil.example" },
    });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("access-control-allow-origin"), null);
    const pre = await app(origins).request("/health", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    assert.notEqual(pre.status, 204);
  }
});
