import assert from "node:assert/strict";
import {
  checkCoverage,
  type ColumnInfo,
  isPersonal,
  manifestHash,
  parseJsonPath,
  parseManifest,
} from "./manifest.ts";

const REPO_MANIFEST = new URL("../../../anonymize.json", import.meta.url);

function manifest(tables: Record<string, Record<string, unknown>>) {
  return parseManifest({ version: 1, tables });
}

const col = (name: string, type = "text", generated = false): ColumnInfo => ({
  name,
  type,
  generated,
});

Deno.test("the repository's manifest parses and covers the four user tables", async () => {
  const m = parseManifest(JSON.parse(await Deno.readTextFile(REPO_MANIFEST)));
  assert.deepEqual(Object.keys(m.tables).sort(), [
    "auth.identities",
    "auth.users",
    "public.memberships",
    "public.profiles",
  ]);
  assert.equal(m.tables["auth.users"].encrypted_password.rule, "password");
  assert.equal(m.fake_email_domain, "anon.stagecoach.test");
});

Deno.test("parseManifest fills defaults and names the zod path of a bad rule", () => {
  const m = manifest({ "public.profiles": { id: { rule: "hash" } } });
  assert.deepEqual(m.tables["public.profiles"].id, { rule: "hash", length: 32, prefix: "" });
  assert.throws(
    () => manifest({ "public.profiles": { phone: { rule: "scramble" } } }),
    /^Error: Cannot read the anonymization manifest: tables\.public\.profiles\.phone\.rule: /,
  );
  assert.throws(
    () => manifest({ "public.profiles": { phone: { rule: "keep", extra: 1 } } }),
    /tables\.public\.profiles\.phone: Unrecognized key/,
  );
  assert.throws(
    () =>
      manifest({
        "public.profiles": {
          metadata: { rule: "jsonb", paths: { "contacts[0].email": { rule: "fake_email" } } },
        },
      }),
    /paths: Cannot read JSONB path "contacts\[0\]\.email"/,
  );
});

Deno.test("parseJsonPath reads keys and [*]", () => {
  assert.deepEqual(parseJsonPath("contacts[*].email"), [
    { key: "contacts", each: true },
    { key: "email", each: false },
  ]);
  assert.throws(() => parseJsonPath("a..b"), /"" is not a key or key\[\*\]/);
});

Deno.test("checkCoverage names unmapped columns, both-way schema drift and stray rules", () => {
  const m = manifest({
    "public.profiles": { id: { rule: "uuid" }, old: { rule: "keep" }, email: { rule: "keep" } },
  });
  const source = {
    "public.profiles": [col("id", "uuid"), col("phone"), col("email"), col("gen", "text", true)],
  };
  const target = { "public.profiles": [col("id", "uuid"), col("email"), col("extra")] };
  const problems = checkCoverage(m, { tables: ["public.profiles"], source, target });
  assert.deepEqual(problems.map((p) => p.message), [
    "public.profiles.phone has no rule in the manifest",
    "public.profiles.phone exists in the source but not in the target",
    "public.profiles.extra exists in the target but not in the source",
    "public.profiles.old has a rule but no such column exists in the source",
  ]);
});

Deno.test("checkCoverage accepts a complete manifest and refuses rules on generated columns", () => {
  const m = manifest({ "auth.identities": { id: { rule: "uuid" }, email: { rule: "keep" } } });
  const cols = { "auth.identities": [col("id", "uuid"), col("email", "text", true)] };
  assert.deepEqual(
    checkCoverage(m, { tables: ["auth.identities"], source: cols, target: cols }).map((p) =>
      p.problem
    ),
    ["generated"],
  );
  const ok = manifest({ "auth.identities": { id: { rule: "uuid" } } });
  assert.deepEqual(
    checkCoverage(ok, { tables: ["auth.identities"], source: cols, target: cols }),
    [],
  );
});

Deno.test("isPersonal: fakes and hashes are personal, keep is not unless marked", () => {
  assert.equal(isPersonal({ rule: "fake_email" }), true);
  assert.equal(isPersonal({ rule: "keep" }), false);
  assert.equal(isPersonal({ rule: "keep", pii: true }), true);
  assert.equal(isPersonal({ rule: "fake_phone", pii: false }), false);
  assert.equal(
    isPersonal({
      rule: "jsonb",
      unlisted: "drop",
      paths: { email: { rule: "fake_email" } },
    }),
    true,
  );
});

Deno.test("manifestHash is stable under key order and changes with content", async () => {
  const a = manifest({ "public.profiles": { id: { rule: "uuid" }, phone: { rule: "null" } } });
  const b = manifest({ "public.profiles": { phone: { rule: "null" }, id: { rule: "uuid" } } });
  const c = manifest({ "public.profiles": { id: { rule: "uuid" }, phone: { rule: "keep" } } });
  assert.match(await manifestHash(a), /^[0-9a-f]{64}$/);
  assert.equal(await manifestHash(a), await manifestHash(b));
  assert.notEqual(await manifestHash(a), await manifestHash(c));
});
