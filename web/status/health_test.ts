import assert from "node:assert/strict";
import type { StatusConfig } from "./config.ts";
import { checkHealth } from "./health.ts";

const CONFIG: StatusConfig = {
  env: "production",
  functionsUrl: "https://ref.supabase.co/functions/v1",
  anonKey: "anon-key",
};

function answering(status: number, body: unknown, seen: Request[] = []): typeof fetch {
  return (input, init) => {
    seen.push(new Request(input, init));
    return Promise.resolve(Response.json(body, { status }));
  };
}

Deno.test("checkHealth asks GET /ops/health with the anon key as bearer and apikey", async () => {
  const seen: Request[] = [];
  const report = await checkHealth(CONFIG, {
    fetch: answering(200, { ok: true, env: "production" }, seen),
  });
  assert.equal(report.state, "up");
  assert.equal(report.detail, "ok");
  assert.equal(seen[0].url, "https://ref.supabase.co/functions/v1/ops/health");
  assert.equal(seen[0].method, "GET");
  assert.equal(seen[0].headers.get("authorization"), "Bearer anon-key");
  assert.equal(seen[0].headers.get("apikey"), "anon-key");
});

Deno.test("checkHealth is down on an error status, a wrong shape, or another environment", async () => {
  const cases: [number, unknown, string][] = [
    [503, { error: {} }, "http 503"],
    [200, { ok: "yes" }, "unexpected answer"],
    [200, { ok: false, env: "production" }, "not ok"],
    [200, { ok: true, env: "staging" }, "answered as staging"],
  ];
  for (const [status, body, detail] of cases) {
    const report = await checkHealth(CONFIG, { fetch: answering(status, body) });
    assert.deepEqual([report.state, report.detail], ["down", detail]);
  }
});

Deno.test("checkHealth never throws: a network failure is down and unreachable", async () => {
  const report = await checkHealth(CONFIG, {
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  assert.deepEqual([report.state, report.detail], ["down", "unreachable"]);
});
