/** Catalog reads on the staging database of the running stack. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import {
  environmentKind,
  readColumns,
  readForeignKeys,
  readTierIds,
  readUniqueIndexes,
  tableIsEmpty,
} from "./catalog.ts";

Deno.test("the catalog describes the user tables, their keys and the environment", async () => {
  const sql = postgres(localEnv("staging").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const cols = await readColumns(sql, ["auth.identities", "public.nope"]);
    assert.deepEqual(Object.keys(cols), ["auth.identities"]);
    const email = cols["auth.identities"].find((c) => c.name === "email");
    assert.deepEqual(email, { name: "email", type: "text", generated: true });
    assert.equal(cols["auth.identities"].find((c) => c.name === "id")?.type, "uuid");
    const users = await readColumns(sql, ["auth.users"]);
    assert.equal(users["auth.users"].find((c) => c.name === "email")?.type, "character varying");

    const unique = await readUniqueIndexes(sql, "auth.identities");
    assert.ok(unique.some((u) => u.primary && u.columns.join() === "id"));
    assert.ok(unique.some((u) => u.columns.join() === "provider_id,provider" && !u.partial));
    const memberships = await readUniqueIndexes(sql, "public.memberships");
    assert.ok(memberships.some((u) => u.name === "memberships_one_live_per_user" && u.partial));

    const fks = await readForeignKeys(sql, ["public.memberships"]);
    assert.deepEqual(
      fks.map((f) => `${f.column}->${f.refTable}.${f.refColumn}`).sort(),
      ["tier_id->public.membership_tiers.id", "user_id->auth.users.id"],
    );
    assert.equal(await environmentKind(sql, "staging"), "staging");
    await assert.rejects(
      environmentKind(sql, "mars"),
      /mars is not registered in its ops\.environments/,
    );
    assert.equal(typeof (await readTierIds(sql)), "object");
    assert.equal(typeof (await tableIsEmpty(sql, "public.memberships")), "boolean");
  } finally {
    await sql.end();
  }
});
