/**
 * The `users.copy` kind run the way the ops-worker runs it: short time-boxed slices that
 * re-queue themselves, here with a tiny budget so the copy spans many slices; a resume with
 * another key, which is refused; and a job naming another manifest, refused before anything
 * is read. production → staging on the running stack.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
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
import { SHIPPED_MANIFEST, SHIPPED_MANIFEST_HASH } from "./manifest.ts";

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
    const manifest = SHIPPED_MANIFEST;
    const params: UsersCopyParams = {
      source_env: "production",
      target_env: "staging",
      mode: "anonymized",
      selection: { where: `u.email like '%@${t}.example.com'` },
      batch_size: 4,
      parallel: 2,
      key_fingerprint: await keyFingerprint(KEY),
      manifest_hash: SHIPPED_MANIFEST_HASH,
      promotion_id: null,
      statement_timeout_s: 30,
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
    const hash = await testPasswordHash(target, {
      key: KEY,
      password: "test-password",
      cost: manifest.password_cost,
    });
    assert.match(hash, /^\$2a\$10\$/);
    assert.equal(
      hash,
      await testPasswordHash(target, {
        key: KEY,
        password: "test-password",
        cost: manifest.password_cost,
      }),
    );
    await assert.rejects(
      testPasswordHash(target, { key: KEY, password: undefined, cost: 10 }),
      (err: Error & { code?: string }) => err.code === "test_password_missing",
    );
  } finally {
    await source.end();
    await target.end();
  }
});

/** Every column `keep` and not personal: the manifest of the attack (finding 4). */
function keepEverything(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(SHIPPED_MANIFEST.tables).map(([table, columns]) => [
      table,
      Object.fromEntries(Object.keys(columns).map((c) => [c, { rule: "keep", pii: false }])),
    ]),
  );
}

/**
 * Inserts a job row the way an operator could before ops.create_job existed (here as the
 * owner, the only role still allowed to write ops.jobs directly), runs one slice of it, and
 * returns the result together with whether any of the tag's users reached the target.
 */
async function runForgedJob(params: Record<string, unknown>, t: string) {
  const source = postgres(localEnv("production").dbUrl, { max: 2, onnotice: () => {} });
  const target = postgres(localEnv("staging").dbUrl, { max: 5, onnotice: () => {} });
  const registry = createJobRegistry();
  registry.register(usersCopyKind);
  try {
    await source`
      insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
             'p' || g || '@' || ${t} || '.example.com', 'real-hash-' || g, '{}', '{}', now(), now()
      from generate_series(1, 3) as g`;
    const [{ n: auditBefore }] = await target`select count(*)::int as n from ops.audit_log`;
    const [row] = await target`
      insert into ops.jobs (kind, params, executor)
      values ('users.copy', ${target.json(params as postgres.JSONValue)}, 'cli')
      returning id`;
    const r = await runSlice(target, row.id, { host: host(KEY), registry, deadlineMs: 20_000 });
    const ids = (await source`select id from auth.users where email like ${`%@${t}.example.com`}`)
      .map((u) => u.id as string);
    const [{ n: copied }] = await target`
      select count(*)::int as n from auth.users
      where email like ${`%@${t}.example.com`} or id = any (${ids}::uuid[])`;
    const [{ n: auditAfter }] = await target`select count(*)::int as n from ops.audit_log`;
    const [{ n: exported }] = await source`
      select count(*)::int as n from ops.audit_log where subject_id = ${row.id}::text`;
    return { r, copied, auditEntries: auditAfter - auditBefore + exported };
  } finally {
    await source.end();
    await target.end();
  }
}

function forgedParams(t: string): Record<string, unknown> {
  return {
    source_env: "production",
    target_env: "staging",
    mode: "anonymized",
    selection: { where: `u.email like '%@${t}.example.com'` },
    batch_size: 100,
    parallel: 2,
    key_fingerprint: null,
    manifest_hash: SHIPPED_MANIFEST_HASH,
    promotion_id: null,
  };
}

Deno.test("a users.copy job carrying its own keep-everything manifest is refused and copies nothing", async () => {
  const t = `fj${crypto.randomUUID().slice(0, 8)}`;
  const params = {
    ...forgedParams(t),
    key_fingerprint: await keyFingerprint(KEY),
    manifest: { version: 1, tables: keepEverything() },
  };
  const { r, copied, auditEntries } = await runForgedJob(params, t);
  assert.equal(r.status, "failed");
  assert.equal(r.job?.error?.code, "job_refused");
  assert.match(r.job?.error?.message ?? "", /params\.manifest: not accepted/);
  assert.equal(copied, 0, "no user reached the target");
  assert.equal(auditEntries, 0, "nothing was audited as copied");
});

Deno.test("a users.copy job naming another manifest hash is refused with both hashes and copies nothing", async () => {
  const t = `fh${crypto.randomUUID().slice(0, 8)}`;
  const other = "0".repeat(64);
  const params = {
    ...forgedParams(t),
    key_fingerprint: await keyFingerprint(KEY),
    manifest_hash: other,
  };
  const { r, copied, auditEntries } = await runForgedJob(params, t);
  assert.equal(r.status, "failed");
  assert.equal(r.job?.error?.code, "manifest_mismatch");
  assert.match(
    r.job?.error?.message ?? "",
    new RegExp(`manifest_hash ${other} differs from .* ${SHIPPED_MANIFEST_HASH}`),
  );
  assert.equal(copied, 0, "no user reached the target");
  assert.equal(auditEntries, 0);
});
