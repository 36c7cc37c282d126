/** The copy's preflight, production → staging on the running stack, with its own users. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../../../../scripts/local/config.ts";
import { breakGlass, ensureTiers } from "../promotion/fixtures_test.ts";
import { sqlKey } from "./key.ts";
import { type Manifest, parseManifest } from "./manifest.ts";
import { preflightCopy, type PreflightInput } from "./preflight.ts";

async function setup(users: number, tierSlug = "pro") {
  const source = postgres(localEnv("production").dbUrl, { max: 2, onnotice: () => {} });
  const target = postgres(localEnv("staging").dbUrl, { max: 2, onnotice: () => {} });
  const t = `pf${crypto.randomUUID().slice(0, 8)}`;
  await ensureTiers(target, ["pro"]);
  await ensureTiers(source, [tierSlug]);
  await source`
    with u as (
      insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
             'p' || g || '@' || ${t} || '.example.com', '{}', '{}', now(), now()
      from generate_series(1, ${users}::int) as g
      returning id
    )
    insert into public.memberships (user_id, tier_id, status)
    select u.id, (select id from public.membership_tiers where slug = ${tierSlug}), 'active' from u`;
  const manifest: Manifest = parseManifest(
    JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/supabase/anonymize.json`)),
  );
  const input: PreflightInput = {
    source,
    target,
    sourceEnv: "production",
    targetEnv: "staging",
    mode: "anonymized",
    selection: { where: `u.email like '%@${t}.example.com'` },
    manifest,
    sqlKey: await sqlKey("preflight-test-key-0123456789abcdef"),
  };
  return {
    input,
    close: async () => {
      // Leave no tier behind that only production has: promotions would refuse to drop it.
      await source`delete from auth.users where email like ${`%@${t}.example.com`}`;
      if (tierSlug !== "pro") {
        await breakGlass(source, "test fixture: remove the preflight test tier", async (tx) => {
          await tx`delete from public.membership_tiers where slug = ${tierSlug}`;
        });
      }
      await source.end();
      await target.end();
    },
  };
}

Deno.test("preflight counts the selection and picks a load mode per table", async () => {
  const { input, close } = await setup(3);
  try {
    const pre = await preflightCopy(input);
    assert.deepEqual(pre.totals, {
      "auth.users": 3,
      "auth.identities": 0,
      "public.profiles": 3,
      "public.memberships": 3,
    });
    assert.equal(pre.target_kind, "staging");
    assert.ok(pre.unique_checked.includes("auth.users.users_email_partial_key"));
    assert.ok(["copy", "merge"].includes(pre.load["auth.users"]));
  } finally {
    await close();
  }
});

Deno.test("preflight refuses a copy into itself and a tier the target lacks", async () => {
  const slug = `gone-${crypto.randomUUID().slice(0, 6)}`;
  const { input, close } = await setup(2, slug);
  try {
    await assert.rejects(
      preflightCopy({ ...input, targetEnv: "production", target: input.source }),
      (err: Error & { code?: string }) => err.code === "same_environment",
    );
    await assert.rejects(
      preflightCopy(input),
      (err: Error & { code?: string }) =>
        err.code === "missing_tier" &&
        err.message.includes(`staging has no tier with slug ${slug}`),
    );
  } finally {
    await close();
  }
});

Deno.test("preflight detects masked values that collide on a unique column before anything moves", async () => {
  const { input, close } = await setup(400);
  try {
    // Cities are a few thousand values: 400 emails mapped onto them must collide.
    const manifest = structuredClone(input.manifest);
    manifest.tables["auth.users"].email = { rule: "fake_address", part: "city" };
    await assert.rejects(
      preflightCopy({ ...input, manifest }),
      (err: Error & { code?: string }) =>
        err.code === "collision" &&
        /masked values collide in auth\.users \(email\): \d+/.test(err.message),
    );
  } finally {
    await close();
  }
});
