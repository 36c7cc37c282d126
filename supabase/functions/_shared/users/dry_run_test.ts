/** The dry run of a copy, production → staging on the running stack. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../../../../scripts/local/config.ts";
import { dryRunCopy } from "./dry_run.ts";
import { sqlKey } from "./key.ts";
import { parseManifest } from "./manifest.ts";

Deno.test("dryRunCopy returns counts and changed columns only, before redacted on the source", async () => {
  const source = postgres(localEnv("production").dbUrl, { max: 2, onnotice: () => {} });
  const target = postgres(localEnv("staging").dbUrl, { max: 2, onnotice: () => {} });
  const t = `dr${crypto.randomUUID().slice(0, 8)}`;
  try {
    await source`
      insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
              ${`secret.person@${t}.example.com`}, '{}', '{}', now(), now())`;
    const report = await dryRunCopy({
      source,
      target,
      sourceEnv: "production",
      targetEnv: "staging",
      mode: "anonymized",
      selection: { where: `u.email like '%@${t}.example.com'` },
      manifest: parseManifest(
        JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/supabase/anonymize.json`)),
      ),
      sqlKey: await sqlKey("dry-run-test-key-0123456789abcdef"),
      passwordHash: null,
    });
    assert.equal(report.preflight.totals["auth.users"], 1);
    const [row] = report.samples["auth.users"];
    assert.equal(row.before.email, `s…(${`secret.person@${t}.example.com`.length})`);
    assert.match(String(row.after.email), /@anon\.stagecoach\.test$/);
    assert.ok(!("aud" in row.after), "unchanged columns are left out");
    assert.ok(!JSON.stringify(report).includes("secret.person"), "no raw value comes back");
  } finally {
    await source.end();
    await target.end();
  }
});
