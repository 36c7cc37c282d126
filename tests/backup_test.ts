/**
 * Backups against the running test stack: a backup verifies and a restore gives back
 * identical content hashes (migration history repaired, audit chain continued); a tampered,
 * truncated or wrongly keyed backup is refused naming the problem with nothing restored;
 * retention keeps the newest N; production is restored only through an approved `restore`
 * promotion naming the backup.
 *
 * Restores go into staging and production, each from a backup of itself taken in the same
 * test, so the other test files find their data as they left it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type EnvName, localEnv, supabaseCliDbUrl } from "../scripts/local/config.ts";
import { createBackup, type CreatedBackup } from "../scripts/backup/create.ts";
import { MIN_KDF_ITERATIONS } from "../scripts/backup/crypto.ts";
import { listBackups } from "../scripts/backup/list.ts";
import { BackupError } from "../scripts/backup/manifest.ts";
import { CARRIED_TABLES, restoreBackup } from "../scripts/backup/restore.ts";
import { compareTables, verifyBackup } from "../scripts/backup/verify.ts";
import { supabaseCli } from "../scripts/release/supabase_cli.ts";
import { REPO_ROOT } from "../scripts/local/config.ts";
import { actorEmail, cli, uniqueSuffix, withHarness } from "./promotion_helpers.ts";

const KEY = "backup-test-key-0123456789abcdef";

/** Tables the running stack's worker writes at any time (left out of exact comparisons). */
const LIVE = new Set(["ops.heartbeats", "ops.jobs", "ops.notification_outbox"]);

async function backup(env: EnvName, root: string, keep = 7): Promise<CreatedBackup> {
  return await createBackup({
    environment: env,
    dbUrl: localEnv(env).dbUrl,
    key: KEY,
    root,
    keep,
    gitSha: null,
    kdfIterations: MIN_KDF_ITERATIONS,
  });
}

function restore(env: EnvName, dir: string, opts: { key?: string; promotionId?: string } = {}) {
  const cli = supabaseCli({ repoRoot: REPO_ROOT, dbUrl: supabaseCliDbUrl(localEnv(env)) });
  return restoreBackup({
    dir,
    key: opts.key ?? KEY,
    environment: env,
    dbUrl: localEnv(env).dbUrl,
    repair: (status, versions) => cli.migrationRepair(status, versions),
    promotionId: opts.promotionId,
    who: "test:backup",
  });
}

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof BackupError, String(err));
    assert.match(err.message, pattern);
    return true;
  });
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "stagecoach-backup-test-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

Deno.test("a backup verifies, and a restore gives back identical content hashes", async () => {
  await withHarness(async (h) => {
    await withRoot(async (root) => {
      const db = h.db.staging;
      const made = await backup("staging", root);
      const verified = await verifyBackup({
        dir: made.dir,
        key: KEY,
        dbUrl: localEnv("staging").dbUrl,
      });
      assert.equal(verified.ok, true, verified.problem?.message);
      assert.equal(verified.tablesChecked, made.manifest.tables.length);
      assert.ok(made.manifest.tables.some((t) => t.schema === "auth" && t.name === "users"));
      const [listed] = await listBackups(root);
      assert.deepEqual([listed.backup_id, listed.verified], [made.manifest.backup_id, true]);

      const marker = `test_${uniqueSuffix()}.marker`;
      await db`insert into public.app_config (key, value) values (${marker}, '1')`;
      await db`insert into supabase_migrations.schema_migrations (version, name)
               values ('29991231000000', 'not_in_the_backup')`;
      const [{ n: auditBefore }] = await db`select count(*)::int as n from ops.audit_log`;

      const restored = await restore("staging", made.dir);
      assert.equal(restored.changed, true);
      assert.deepEqual(restored.repaired, { applied: [], reverted: ["29991231000000"] });
      assert.equal((await db`select 1 from public.app_config where key = ${marker}`).length, 0);
      const differ = await compareTables(localEnv("staging").dbUrl, 15, made.manifest.tables, {
        skip: new Set([...CARRIED_TABLES, ...LIVE]),
      });
      assert.deepEqual(differ, []);
      assert.deepEqual(restored.differences.filter((t) => !LIVE.has(t)), []);
      const [{ broken }] = await db`select ops.verify_audit_chain() as broken`;
      assert.equal(broken, null, "the audit chain continues unbroken");
      const [last] =
        await db`select id, action, details from ops.audit_log order by id desc limit 1`;
      assert.equal(last.action, "backup.restored");
      assert.equal(last.details.manifest_sha256, made.manifestSha256);
      assert.ok(Number(last.id) > auditBefore, "entries newer than the backup were carried over");
      const [{ n: fakes }] =
        await db`select count(*)::int as n from supabase_migrations.schema_migrations
                                      where version = '29991231000000'`;
      assert.equal(fakes, 0);

      const again = await restore("staging", made.dir);
      assert.equal(again.changed, false, "a second restore changes nothing more");
    });
  });
});

Deno.test("a tampered, truncated or wrongly keyed backup is refused with nothing restored", async () => {
  await withHarness(async (h) => {
    await withRoot(async (root) => {
      const db = h.db.staging;
      const made = await backup("staging", root);
      const marker = `test_${uniqueSuffix()}.marker`;
      await db`insert into public.app_config (key, value) values (${marker}, '1')`;
      try {
        const table = made.manifest.files.find((f) => f.kind === "table" && f.size > 100)!;
        const variant = async (name: string, change: (dir: string) => Promise<void>) => {
          const dir = join(root, name);
          await copyDir(made.dir, dir);
          await change(dir);
          return dir;
        };
        const tampered = await variant("tampered", async (dir) => {
          const bytes = await Deno.readFile(join(dir, table.name));
          bytes[40] ^= 1;
          await Deno.writeFile(join(dir, table.name), bytes);
        });
        const truncated = await variant("truncated", async (dir) => {
          const bytes = await Deno.readFile(join(dir, table.name));
          await Deno.writeFile(join(dir, table.name), bytes.slice(0, bytes.length - 10));
        });
        const manifest = await variant("manifest", async (dir) => {
          const text = await Deno.readTextFile(join(dir, "manifest.json"));
          await Deno.writeTextFile(
            join(dir, "manifest.json"),
            text.replace(/"rows": (\d+)/, (_m, n) => `"rows": ${Number(n) + 1}`),
          );
        });
        const cases: [string, string, RegExp][] = [
          [tampered, KEY, new RegExp(`${table.name}: chunk 0 fails authentication`)],
          [truncated, KEY, new RegExp(`${table.name}: chunk 0 is cut short`)],
          [manifest, KEY, /manifest.json: its HMAC does not match/],
          [
            made.dir,
            `${KEY}-wrong`,
            /wrong key: fingerprint pbkdf2:[0-9a-f]{16}, backup made with pbkdf2:/,
          ],
        ];
        for (const [dir, key, pattern] of cases) {
          const result = await verifyBackup({ dir, key, dbUrl: localEnv("staging").dbUrl });
          assert.equal(result.ok, false, dir);
          assert.match(result.problem!.message, pattern);
          await refused(restore("staging", dir, { key }), pattern);
          assert.equal(
            (await db`select 1 from public.app_config where key = ${marker}`).length,
            1,
            `nothing restored from ${dir}`,
          );
        }
        const viaCli = await cli(["backup", "verify", tampered, "--env", "staging"], {
          STAGECOACH_BACKUP_KEY: KEY,
        });
        assert.equal(viaCli.code, 1, viaCli.stderr);
        assert.match(viaCli.stderr, /refused: .*chunk 0 fails authentication/);
        assert.ok(!viaCli.stderr.includes(KEY) && !viaCli.stdout.includes(KEY));
        const [databases] = await db`select count(*)::int as n from pg_database
                                     where datname like 'stagecoach_verify_%'`;
        assert.equal(databases.n, 0, "scratch databases are dropped");
      } finally {
        await db`delete from public.app_config where key = ${marker}`;
      }
    });
  });
});

Deno.test("backup create keeps the newest N backups of the environment", async () => {
  await withRoot(async (root) => {
    const first = await backup("staging", root, 2);
    const second = await backup("staging", root, 2);
    const out = await cli(["backup", "create", "--env", "staging", "--keep", "2", "--json"], {
      STAGECOACH_BACKUP_DIR: root,
      STAGECOACH_BACKUP_KEY: KEY,
    });
    assert.equal(out.code, 0, out.stderr);
    const third = JSON.parse(out.stdout);
    assert.deepEqual(third.removed, [first.dir]);
    assert.ok(!out.stdout.includes(KEY) && !out.stderr.includes(KEY));
    const listed = await listBackups(root, { environment: "staging" });
    assert.deepEqual(listed.map((b) => b.backup_id), [
      third.backup_id,
      second.manifest.backup_id,
    ]);
    const text = await cli(["backup", "list", "--env", "staging"], { STAGECOACH_BACKUP_DIR: root });
    assert.match(text.stdout, new RegExp(`${third.backup_id}.*not verified`));
  });
});

Deno.test("production is restored only through an approved restore promotion naming the backup", async () => {
  await withHarness(async (h) => {
    await withRoot(async (root) => {
      const db = h.db.production;
      // The people acting exist before the backup, so the restore keeps them.
      for (const actor of ["operator", "approver", "approver2", "viewer"] as const) {
        await h.token("production", actor);
      }
      const made = await backup("production", root);
      // Config is guarded in production (changed only by promotions); a heartbeat is not.
      const marker = `test-marker-${uniqueSuffix().toLowerCase()}`;
      await db`insert into ops.heartbeats (component) values (${marker})`;
      const markerKept = async () =>
        assert.equal(
          (await db`select 1 from ops.heartbeats where component = ${marker}`).length,
          1,
        );
      try {
        await refused(
          restore("production", made.dir),
          /policy asks approval for high-risk changes/,
        );
        await markerKept();

        const planned = await cli([
          "backup",
          "restore",
          made.dir,
          "--env",
          "production",
          "--plan",
          "--as",
          actorEmail("operator"),
          "--json",
        ], { STAGECOACH_BACKUP_KEY: KEY });
        assert.equal(planned.code, 0, planned.stderr);
        const p = JSON.parse(planned.stdout).promotion;
        assert.deepEqual(
          p.plan.changes.map((c: { kind: string; key: string; risk: string }) => [
            c.kind,
            c.key,
            c.risk,
          ]),
          [["backup_restore", made.manifest.backup_id, "high"]],
        );
        await refused(
          restore("production", made.dir, { promotionId: p.id }),
          /its status is awaiting_approval, not approved/,
        );
        await markerKept();

        const other = await h.call("production", "operator", "/promotions", {
          body: {
            source: "production",
            scope: ["restore"],
            backup: { ...p.plan.changes[0].after, backup_id: "20200101T000000000Z-abcdef" },
          },
        });
        assert.equal(other.status, 201, other.text);
        assert.equal(
          await h.approveAsNeeded("production", {
            id: other.body.promotion.id,
            plan_hash: other.body.plan_hash,
          }),
          "approved",
        );
        await refused(
          restore("production", made.dir, { promotionId: other.body.promotion.id }),
          /allows restoring backup 20200101T000000000Z-abcdef, not/,
        );
        await markerKept();

        assert.equal(await h.approveAsNeeded("production", p), "approved");
        const restored = await restore("production", made.dir, { promotionId: p.id });
        assert.equal(restored.changed, true);
        assert.equal(restored.promotionId, p.id);
        assert.equal(
          (await db`select 1 from ops.heartbeats where component = ${marker}`).length,
          0,
        );
        const [last] = await db`select action, details from ops.audit_log order by id desc limit 1`;
        assert.deepEqual([last.action, last.details.promotion_id], ["backup.restored", p.id]);
      } finally {
        await db`delete from ops.heartbeats where component = ${marker}`;
      }
    });
  });
});
