import assert from "node:assert/strict";
import type { CallerClaims } from "./auth.ts";
import { asCaller, type Sql, type Tx } from "./db.ts";

interface Statement {
  text: string;
  values: unknown[];
}

/** A stand-in for postgres.js that records statements run inside `begin`. */
function recordingSql(): { sql: Sql; statements: Statement[]; began: () => number } {
  const statements: Statement[] = [];
  let begins = 0;
  const tx = ((strings: TemplateStringsArray, ...values: unknown[]) => {
    statements.push({ text: strings.join("$").replace(/\s+/g, " ").trim(), values });
    return Promise.resolve([{ ok: 1 }]);
  }) as unknown as Tx;
  const sql = {
    begin: async (fn: (tx: Tx) => Promise<unknown>) => {
      begins++;
      return await fn(tx);
    },
  } as unknown as Sql;
  return { sql, statements, began: () => begins };
}

Deno.test("asCaller sets role and request.jwt.claims locally, then runs the work", async () => {
  const { sql, statements } = recordingSql();
  const claims: CallerClaims = {
    role: "authenticated",
    sub: "6f1c1b2a-6a44-4e0c-9f6e-2d6c1b0b7a11",
    email: "a@b.c",
  };
  const result = await asCaller(sql, claims, async (tx) => {
    await tx`select auth.uid()`;
    return "done";
  });
  assert.equal(result, "done");
  assert.equal(
    statements[0].text,
    "select set_config('role', $, true), set_config('request.jwt.claims', $, true)",
  );
  assert.deepEqual(statements[0].values, ["authenticated", JSON.stringify(claims)]);
  assert.equal(statements[1].text, "select auth.uid()");
});

Deno.test("asCaller returns arrays untouched", async () => {
  const { sql } = recordingSql();
  const rows = await asCaller(sql, { role: "anon" }, () => Promise.resolve([1, 2]));
  assert.deepEqual(rows, [1, 2]);
});

Deno.test("asCaller refuses any role but anon, authenticated and service_role before SQL", async () => {
  const { sql, began } = recordingSql();
  await assert.rejects(
    asCaller(sql, { role: "postgres" } as unknown as CallerClaims, () => Promise.resolve(1)),
    /^Error: Cannot act as the caller: role "postgres" is not one of anon, authenticated, service_role$/,
  );
  assert.equal(began(), 0);
});
