import assert from "node:assert/strict";
import { ContractError } from "../../supabase/functions/_shared/api/contract.ts";
import { JsonNumber } from "../../supabase/functions/_shared/json/lossless.ts";
import { ApiCallError, callOps } from "./api.ts";

interface Seen {
  method: string;
  path: string;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

/** Serves one canned answer on a free port and records the request it got. */
async function withAnswer(
  status: number,
  text: string,
  fn: (env: { name: "staging"; functionsUrl: string }, seen: Seen[]) => Promise<void>,
) {
  const seen: Seen[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      authorization: req.headers.get("authorization"),
      contentType: req.headers.get("content-type"),
      body: await req.text(),
    });
    return new Response(text, { status, headers: { "content-type": "application/json" } });
  });
  try {
    await fn({ name: "staging", functionsUrl: `http://127.0.0.1:${server.addr.port}` }, seen);
  } finally {
    await server.shutdown();
  }
}

Deno.test("callOps refuses an answer that does not match the contract, naming the path", async () => {
  await withAnswer(200, '{"intact":"yes","entries":3,"first_broken_id":null}', async (env) => {
    await assert.rejects(() => callOps(env, "audit.verify", { token: "t" }), (err: Error) => {
      assert.ok(err instanceof ContractError);
      assert.equal(err.path, "intact");
      assert.match(
        err.message,
        /^staging: Cannot read the answer to GET \/audit\/verify: intact: /,
      );
      return true;
    });
  });
});

Deno.test("callOps sends the route's method, path, query and body; reads numbers exactly", async () => {
  const release = {
    id: "r",
    environment: "staging",
    source_env: "development",
    git_sha: "abc",
    started_by: "me",
    promotion_id: null,
    status: "succeeded",
    steps: [{ name: "plan", status: "succeeded", summary: null, ms: 1500 }],
    created_at: "2026-12-01T00:00:00Z",
    updated_at: "2026-12-01T00:00:00Z",
    finished_at: null,
  };
  await withAnswer(200, JSON.stringify({ releases: [release] }), async (env, seen) => {
    const out = await callOps(env, "release.list", { token: "t", query: { limit: 5 } });
    assert.equal(seen[0].method, "GET");
    assert.equal(seen[0].path, "/ops/releases?limit=5");
    assert.equal(seen[0].authorization, "Bearer t");
    assert.equal(out.releases[0].steps[0].ms, 1500);
  });
  const answer =
    '{"passed":false,"results":[{"name":"parity","passed":false,"details":{"n":90071992547409934}}]}';
  await withAnswer(200, answer, async (env, seen) => {
    const out = await callOps(env, "validate", { token: "t", body: { source: "development" } });
    assert.equal(seen[0].method, "POST");
    assert.equal(seen[0].contentType, "application/json");
    assert.deepEqual(JSON.parse(seen[0].body), { source: "development" });
    const n = (out.results[0].details as { n: JsonNumber }).n;
    assert.equal(n.text, "90071992547409934");
  });
});

Deno.test("callOps turns an error answer into ApiCallError with its code and details", async () => {
  const text =
    '{"error":{"code":"plan_refused","message":"Cannot plan","details":{"reasons":["x"]}}}';
  await withAnswer(409, text, async (env) => {
    await assert.rejects(
      () => callOps(env, "promotion.rollback", { token: "t", params: { id: "p" } }),
      (err: Error) => {
        assert.ok(err instanceof ApiCallError);
        assert.equal(err.status, 409);
        assert.equal(err.code, "plan_refused");
        assert.deepEqual(err.details, { reasons: ["x"] });
        return true;
      },
    );
  });
});
