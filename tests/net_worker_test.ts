/**
 * The pg_net stand-in of the running development stack: SQL queues a request with
 * `net.http_post`/`net.http_get`, the net worker delivers it and records the response.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";

interface Received {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

async function responseRow(sql: postgres.Sql, id: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [row] = await sql`
      select status_code, content_type, headers, content, timed_out, error_msg
      from net._http_response where id = ${id}`;
    if (row) return row;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Cannot find the response of request ${id}: is the net worker running?`);
}

Deno.test("net worker delivers net.http_post to a listener and records the response", async () => {
  const env = localEnv("development");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const received: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    received.push({
      method: req.method,
      path: url.pathname + url.search,
      headers: req.headers,
      body: await req.text(),
    });
    return Response.json({ pong: true }, { status: 201, headers: { "x-listener": "test" } });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/hook`;
    const [{ id }] = await sql`
      select net.http_post(
        url := ${url},
        body := ${sql.json({ hello: "world", n: 1 })},
        params := '{"q": "a b"}'::jsonb,
        headers := '{"X-Test": "yes"}'::jsonb
      )::text as id`;
    const row = await responseRow(sql, id);
    assert.equal(row.status_code, 201);
    assert.equal(row.timed_out, false);
    assert.equal(row.error_msg, null);
    assert.match(row.content_type, /^application\/json/);
    assert.equal(row.headers["x-listener"], "test");
    assert.deepEqual(JSON.parse(row.content), { pong: true });

    assert.equal(received.length, 1);
    assert.equal(received[0].method, "POST");
    assert.equal(received[0].path, "/hook?q=a%20b");
    assert.equal(received[0].headers.get("x-test"), "yes");
    assert.equal(received[0].headers.get("content-type"), "application/json");
    assert.deepEqual(JSON.parse(received[0].body), { hello: "world", n: 1 });
  } finally {
    await server.shutdown();
    await sql.end();
  }
});

Deno.test("net worker records a timeout when the listener is slower than timeout_milliseconds", async () => {
  const env = localEnv("development");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return new Response("too late");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/slow`;
    const [{ id }] = await sql`
      select net.http_get(url := ${url}, timeout_milliseconds := 200)::text as id`;
    const row = await responseRow(sql, id);
    assert.equal(row.timed_out, true);
    assert.equal(row.status_code, null);
    assert.match(row.error_msg, /^Timeout of 200 ms reached/);
  } finally {
    await server.shutdown();
    await sql.end();
  }
});

Deno.test("net worker sends nothing for a request queued in a transaction that rolls back", async () => {
  const env = localEnv("development");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    hits++;
    return new Response("ok");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/never`;
    await assert.rejects(
      sql.begin(async (tx) => {
        await tx`select net.http_get(${url})`;
        throw new Error("roll back");
      }),
      /roll back/,
    );
    // A request committed after it proves the worker ran past the rolled-back one.
    const [{ id }] = await sql`select net.http_get(${url + "?after=1"})::text as id`;
    await responseRow(sql, id);
    assert.equal(hits, 1);
  } finally {
    await server.shutdown();
    await sql.end();
  }
});
