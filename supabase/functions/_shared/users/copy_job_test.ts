/**
 * The `users.copy` kind run the way the ops-worker runs it: short time-boxed slices that
 * re-queue themselves, here with a tiny budget so the copy spans many slices; and a resume
 * with another key, which is refused. production → staging on the running stack.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../../../../scripts/local/config.ts";
import { createJobRegistry, type JobHost } from "../jobs/registry.ts";
import { runSlice } from "../jobs/runner.ts";
import { createJob } from "../jobs/store.ts";
import {
  testPasswordHash,
  USERS_COPY_KIND,
  usersCopyKind,
  type UsersCopyParams,
} from "./copy_job.ts";
import { keyFingerprint } from "./key.ts";
import { manifestHash, parseManifest } from "./manifest.ts";

const KEY = "copy-job-test-key-0123456789abcdef";

function host(key: string): JobHost {
  return {
    owner: "copy-job-test",
    dbUrl: (env) => localEnv(env as "production").dbUrl,
    secret: (name) =>
      name === "STAGECOACH_ANON_KEY"
        ? key
        : name === "STAGECOACH_TEST_PASSWORD"
        ? "test-password"
        : undefined,
  };
}

Deno.test("a users.copy job runs in time-boxed slices and refuses to resume with another key", async () => {
  const source = postgres(localEnv("production").dbUrl, { max: 2, onnotice: () => {} });
  const target = postgres(localEnv("staging").dbUrl, { max: 5, onnotice: () => {} });
  const registry = createJobRegistry();
  registry.register(usersCopyKind);
  const t = `cj${crypto.randomUUID().slice(0, 8)}`;
  try {
    await source`
      insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
             'p' || g || '@' || ${t} || '.example.com', '{}', jsonb_build_object('full_name', 'Real ' || g), now(), now()
      from generate_series(1, 30) as g`;
    const manifest = parseManifest(
      JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/supabase/anonymize.json`)),
    );
    const params: UsersCopyParams = {
      source_env: "production",
      target_env: "staging",
      mode: "anonymized",
      selection: { where: `u.email like '%@${t}.example.com'` },
      batch_size: 4,
      parallel: 2,
      key_fingerprint: await keyFingerprint(KEY),
      manifest,
      manifest_hash: await manifestHash(manifest),
      promotion_id: null,
    };
    // executor 'cli' so the stack's own ops-worker leaves it to this test.
    const job = await createJob(target, registry, {
      kind: USERS_COPY_KIND,
      params,
      executor: "cli",
    });

    const wrongKey = await runSlice(target, job.id, {
      host: host(`${KEY}-other`),
      registry,
      deadlineMs: 5_000,
    });
    assert.equal(wrongKey.status, "failed");
    assert.equal(wrongKey.job?.error?.code, "key_mismatch");
    await target`update ops.jobs set status = 'queued', error = null where id = ${job.id}`;

    let slices = 0;
    let r;
    do {
      r = await runSlice(target, job.id, {
        host: host(KEY),
        registry,
        deadlineMs: 40,
        marginMs: 0,
      });
      slices++;
    } while (r.status === "queued" && slices < 300);
    assert.equal(r.status, "succeeded", JSON.stringify(r.job?.error));
    assert.ok(slices > 2, `ran in ${slices} slices`);
    assert.equal(r.job?.counts["auth.users"], 30);
    assert.equal(r.job?.counts["public.profiles"], 30);
    const hash = await testPasswordHash(target, KEY, "test-password", manifest.password_cost);
    assert.match(hash, /^\$2a\$10\$/);
    assert.equal(
      hash,
      await testPasswordHash(target, KEY, "test-password", manifest.password_cost),
    );
    await assert.rejects(
      testPasswordHash(target, KEY, undefined, 10),
      (err: Error & { code?: string }) => err.code === "test_password_missing",
    );
  } finally {
    await source.end();
    await target.end();
  }
});
