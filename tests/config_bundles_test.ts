/**
 * Config bundles through the real HTTP API and the CLI: exported from one environment and
 * imported into another exactly (numbers beyond 2^53, long decimals, unicode, deep nesting,
 * a secret re-encrypted under the target's key), refused with the reason when tampered,
 * truncated, of another version or wrongly keyed — writing nothing — and never carrying the
 * transfer key or a secret's plaintext.
 *
 * Each test levels its target with its source first, then exports keys of its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  canonicalJson,
  JsonNumber,
  type JsonObject,
  sha256Hex,
} from "../supabase/functions/_shared/json/lossless.ts";
import {
  actorEmail,
  auditTextSince,
  changeOf,
  cli,
  configText,
  deleteConfig,
  exactJson,
  type Harness,
  lastAuditId,
  readSecret,
  setConfig,
  setSecret,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

const KEY_HEADER = "x-stagecoach-transfer-key";

function deepValue(depth: number): string {
  let text = '"bottom ⛏"';
  for (let i = 0; i < depth; i++) text = i % 2 ? `[${text}, ${i}]` : `{"level ${i}": ${text}}`;
  return text;
}

/** Values JavaScript numbers and naive JSON handling would not carry exactly. */
function trickyValues(prefix: string): Record<string, string> {
  return {
    [`${prefix}.big`]:
      '{"big": 123456789012345678901234567890, "neg": -9007199254740993, "edge": 9007199254740993}',
    [`${prefix}.decimal`]:
      "[3.14159265358979323846264338327950288419716939937510, 1.50, 0.000000000000000000000000001, 1e-7, 2.5e+30, 100.0]",
    [`${prefix}.unicode`]:
      '{"text": "Grüße aus 東京 🚂 👩‍👩‍👧 \\u2028 \\"quoted\\" \\\\ back\\tslash", "ключ": "значение", "": "empty key"}',
    [`${prefix}.deep`]: deepValue(120),
    [`${prefix}.json_null`]: "null",
    [`${prefix}.empty`]: '[{}, [], "", false]',
  };
}

/** Recomputes a bundle's checksum after an edit (as a forger would). */
async function resealChecksum(doc: JsonObject): Promise<string> {
  const { checksum: _drop, ...rest } = doc;
  doc.checksum = `sha256:${await sha256Hex(canonicalJson(rest))}`;
  return canonicalJson(doc);
}

function transferKey(): string {
  return `transfer-${crypto.randomUUID()}-${crypto.randomUUID()}`;
}

async function exportFrom(h: Harness, env: "development" | "staging", key: string) {
  const res = await h.call(env, "operator", "/config/export", {
    body: {},
    headers: { [KEY_HEADER]: key },
  });
  assert.equal(res.status, 200, res.text);
  return res.body as { bundle: string; entries: number; secrets: number };
}

Deno.test("a bundle carries config exactly, secrets re-encrypted, and a second import changes nothing", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const prefix = `test_${uniqueSuffix()}`;
    const values = trickyValues(prefix);
    const secretKey = `${prefix}.api_key`;
    const plaintext = `sk_live_${crypto.randomUUID()}`;
    const key = transferKey();
    const devSince = await lastAuditId(h.db.development);
    const stgSince = await lastAuditId(h.db.staging);
    for (const [k, v] of Object.entries(values)) await setConfig(h.db.development, k, v);
    const fingerprint = await setSecret(h.db.development, secretKey, plaintext);
    try {
      const exported = await exportFrom(h, "development", key);
      assert.equal(exported.secrets >= 1, true);
      const bundle = exported.bundle;
      assert.ok(!bundle.includes(plaintext), "no secret plaintext in the bundle");
      assert.ok(!bundle.includes(key), "no transfer key in the bundle");
      assert.match(bundle, /123456789012345678901234567890/);
      assert.match(bundle, /3\.14159265358979323846264338327950288419716939937510/);
      const doc = exactJson(bundle) as JsonObject;
      assert.equal(String(doc.version), "1");
      assert.equal(doc.source_env, "development");
      assert.match(String(doc.checksum), /^sha256:[0-9a-f]{64}$/);

      const imported = await h.call("staging", "operator", "/config/import", {
        body: { bundle },
        headers: { [KEY_HEADER]: key },
      });
      assert.equal(imported.status, 200, imported.text);
      assert.equal(imported.body.source_env, "development");
      assert.equal(imported.body.promotion.source_env, "bundle");
      assert.equal(imported.body.promotion.status, "succeeded", imported.text);
      assert.deepEqual(
        imported.body.plan.changes.map((c: { key: string }) => c.key).sort(),
        [...Object.keys(values), secretKey].sort(),
        "levelled first: only this test's entries are new",
      );
      assert.equal(changeOf(imported.body.plan, "config", secretKey).after.value, null);
      assert.ok(!imported.text.includes(plaintext));

      for (const k of Object.keys(values)) {
        const source = await configText(h.db.development, k);
        assert.ok(source !== null);
        assert.equal(await configText(h.db.staging, k), source, `${k} byte-identical`);
      }
      assert.equal(await readSecret(h.db.staging, secretKey), plaintext);
      const [target] = await h.db.staging`
        select secret_fingerprint, value is null as no_value from public.app_config
        where key = ${secretKey}`;
      assert.deepEqual({ ...target }, { secret_fingerprint: fingerprint, no_value: true });

      const recorded = await h.promotionCount("staging");
      const again = await h.call("staging", "operator", "/config/import", {
        body: { bundle },
        headers: { [KEY_HEADER]: key },
      });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.promotion, null);
      assert.deepEqual(again.body.plan.changes, []);
      assert.equal(await h.promotionCount("staging"), recorded);
      assert.equal((await h.plan("development", "staging")).body.empty, true);

      for (
        const [env, since] of [["development", devSince], ["staging", stgSince]] as const
      ) {
        const audit = await auditTextSince(h.db[env], since);
        assert.ok(!audit.includes(plaintext), `no plaintext in ${env}'s audit log`);
        assert.ok(!audit.includes(key), `no transfer key in ${env}'s audit log`);
      }
      const [exportedEntry] = await h.db.development`
        select details::text as details from ops.audit_log
        where action = 'config.exported' and id > ${devSince}::bigint`;
      assert.ok(exportedEntry, "the export is on record");
      const [stored] = await h.db.staging`
        select coalesce(string_agg(plan::text || coalesce(source_bundle::text, ''), '\n'), '') as text
        from ops.promotions where source_env = 'bundle'`;
      assert.ok(!stored.text.includes(plaintext) && !stored.text.includes(key));
    } finally {
      await deleteConfig(h.db.development, ...Object.keys(values), secretKey);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a tampered, truncated, version-2 or wrongly keyed bundle is refused and writes nothing", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const prefix = `test_${uniqueSuffix()}`;
    const secretKey = `${prefix}.api_key`;
    const key = transferKey();
    await setConfig(h.db.development, `${prefix}.big`, '{"n": 123456789012345678901234567890}');
    await setSecret(h.db.development, secretKey, `sk_live_${crypto.randomUUID()}`);
    try {
      const { bundle } = await exportFrom(h, "development", key);
      const edited = async (edit: (doc: JsonObject) => void) => {
        const doc = exactJson(bundle) as JsonObject;
        edit(doc);
        return await resealChecksum(doc);
      };
      const entryOf = (doc: JsonObject, k: string) =>
        (doc.entries as JsonObject[]).find((e) => e.key === k)!;

      const cases: [string, string, string, string][] = [
        [
          "a value changed",
          bundle.replace("123456789012345678901234567890", "123456789012345678901234567891"),
          key,
          "bundle_checksum_mismatch",
        ],
        [
          "a value changed and the checksum recomputed",
          await edited((doc) => {
            entryOf(doc, `${prefix}.big`).value = { n: "free money" };
          }),
          key,
          "bundle_checksum_mismatch",
        ],
        [
          "a secret's ciphertext altered and the checksum recomputed",
          await edited((doc) => {
            const secret = entryOf(doc, secretKey).secret as JsonObject;
            const bytes = Uint8Array.from(atob(String(secret.ciphertext)), (c) => c.charCodeAt(0));
            bytes[0] ^= 1;
            secret.ciphertext = btoa(String.fromCharCode(...bytes));
          }),
          key,
          "bundle_tampered_secret",
        ],
        ["truncated", bundle.slice(0, Math.floor(bundle.length / 2)), key, "bundle_malformed"],
        [
          "version 2",
          await edited((doc) => void (doc.version = new JsonNumber("2"))),
          key,
          "bundle_wrong_version",
        ],
        ["a wrong transfer key", bundle, transferKey(), "bundle_wrong_key"],
      ];
      const recorded = await h.promotionCount("staging");
      const before = await h.hashes("staging");
      for (const [label, text, withKey, code] of cases) {
        for (const dryRun of [false, true]) {
          const res = await h.call("staging", "operator", "/config/import", {
            body: { bundle: text, dry_run: dryRun },
            headers: { [KEY_HEADER]: withKey },
          });
          assert.equal(res.status, 400, `${label}: ${res.text}`);
          assert.equal(res.body.error.code, code, `${label}: ${res.text}`);
          assert.match(res.body.error.message, /^Cannot open bundle: /);
          assert.ok(!res.text.includes(key), `${label}: the transfer key is not echoed`);
        }
      }
      const noKey = await h.call("staging", "operator", "/config/import", { body: { bundle } });
      assert.equal(noKey.status, 400, noKey.text);
      assert.equal(noKey.body.error.code, "transfer_key_required");
      const viewer = await h.call("staging", "viewer", "/config/import", {
        body: { bundle },
        headers: { [KEY_HEADER]: key },
      });
      assert.equal(viewer.status, 403, viewer.text);

      assert.equal(await h.promotionCount("staging"), recorded, "no promotion recorded");
      assert.deepEqual(await h.hashes("staging"), before, "nothing written");
      assert.equal(await configText(h.db.staging, `${prefix}.big`), null);
    } finally {
      await deleteConfig(h.db.development, `${prefix}.big`, secretKey);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a bundle into production waits for approval and applies with the transfer key", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const prefix = `test_${uniqueSuffix()}`;
    const values = trickyValues(prefix);
    const secretKey = `${prefix}.api_key`;
    const plaintext = `sk_live_${crypto.randomUUID()}`;
    const key = transferKey();
    for (const [k, v] of Object.entries(values)) await setConfig(h.db.staging, k, v);
    await setSecret(h.db.staging, secretKey, plaintext);
    try {
      const { bundle } = await exportFrom(h, "staging", key);
      const imported = await h.call("production", "operator", "/config/import", {
        body: { bundle },
        headers: { [KEY_HEADER]: key },
      });
      assert.equal(imported.status, 200, imported.text);
      const p = imported.body.promotion;
      assert.equal(p.status, "awaiting_approval");
      assert.equal(p.risk, "high", "a new secret is high risk");
      assert.equal(imported.body.applied, null);
      assert.equal(await configText(h.db.production, `${prefix}.big`), null);
      assert.equal(await h.approveAsNeeded("production", p), "approved");

      const noKey = await h.apply("production", p.id);
      assert.equal(noKey.status, 400, noKey.text);
      assert.equal(noKey.body.error.code, "transfer_key_required");
      const wrongKey = await h.call("production", "operator", `/promotions/${p.id}/apply`, {
        body: {},
        headers: { [KEY_HEADER]: transferKey() },
      });
      assert.equal(wrongKey.status, 400, wrongKey.text);
      assert.equal(wrongKey.body.error.code, "bundle_wrong_key");
      const shown = await h.call("production", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.promotion.status, "approved");

      const applied = await h.call("production", "operator", `/promotions/${p.id}/apply`, {
        body: {},
        headers: { [KEY_HEADER]: key },
      });
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "succeeded", applied.text);
      for (const k of Object.keys(values)) {
        assert.equal(
          await configText(h.db.production, k),
          await configText(h.db.staging, k),
          `${k} byte-identical`,
        );
      }
      assert.equal(await readSecret(h.db.production, secretKey), plaintext);
      assert.equal((await h.plan("staging", "production")).body.empty, true);
    } finally {
      await deleteConfig(h.db.staging, ...Object.keys(values), secretKey);
      await h.level("development", "staging");
      await h.level("staging", "production");
    }
  });
});

Deno.test("CLI: config export writes a sealed file, import --dry-run writes nothing, bad input exits 2", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const prefix = `test_${uniqueSuffix()}`;
    const plaintext = `sk_live_${crypto.randomUUID()}`;
    const key = transferKey();
    const dir = await Deno.makeTempDir({ prefix: "stagecoach-bundle-" });
    const file = join(dir, "bundle.json");
    const keyFile = join(dir, "transfer.key");
    await Deno.writeTextFile(keyFile, `${key}\n`);
    await setConfig(h.db.development, `${prefix}.big`, '{"n": 123456789012345678901234567890}');
    await setSecret(h.db.development, `${prefix}.api_key`, plaintext);
    await h.token("development", "operator");
    await h.token("staging", "operator");
    const operator = actorEmail("operator");
    try {
      const exported = await cli(
        ["config", "export", "--env", "development", "--out", file, "--as", operator],
        { STAGECOACH_TRANSFER_KEY: key },
      );
      assert.equal(exported.code, 0, exported.stderr);
      assert.match(exported.stdout, /exported \d+ entries \(\d+ secret\) from development/);
      assert.ok(!(exported.stdout + exported.stderr).includes(key));
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      const text = await Deno.readTextFile(file);
      assert.ok(!text.includes(plaintext) && !text.includes(key));
      assert.match(text, /123456789012345678901234567890/);

      const recorded = await h.promotionCount("staging");
      const before = await h.hashes("staging");
      const dry = await cli([
        "config",
        "import",
        "--env",
        "staging",
        "--in",
        file,
        "--dry-run",
        "--key-file",
        keyFile,
        "--as",
        operator,
      ]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /bundle from development/);
      assert.match(dry.stdout, new RegExp(`\\+ ${prefix}\\.big`));
      assert.match(dry.stdout, /dry run: nothing written/);
      assert.ok(!dry.stdout.includes(plaintext));
      assert.equal(await h.promotionCount("staging"), recorded);
      assert.deepEqual(await h.hashes("staging"), before);

      const wrong = await cli(
        ["config", "import", "--env", "staging", "--in", file, "--as", operator],
        { STAGECOACH_TRANSFER_KEY: transferKey() },
      );
      assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
      assert.match(wrong.stderr, /transfer key is not the one it was sealed with/);
      assert.equal(await h.promotionCount("staging"), recorded);

      const usage: [string[], Record<string, string>, RegExp][] = [
        [["config", "import", "--env", "staging", "--as", operator], {
          STAGECOACH_TRANSFER_KEY: key,
        }, /--in/],
        [["config", "export", "--env", "development", "--out", file], {
          STAGECOACH_TRANSFER_KEY: "short",
        }, /shorter than 16/],
        [
          [
            "config",
            "import",
            "--env",
            "staging",
            "--in",
            file,
            "--key-file",
            join(dir, "missing"),
          ],
          {},
          /does not exist/,
        ],
      ];
      for (const [args, env, message] of usage) {
        const res = await cli(args, env);
        assert.equal(res.code, 2, `${args.join(" ")}: ${res.stdout}${res.stderr}`);
        assert.match(res.stderr, message);
      }
      assert.equal(await h.promotionCount("staging"), recorded);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await deleteConfig(h.db.development, `${prefix}.big`, `${prefix}.api_key`);
      await h.level("development", "staging");
    }
  });
});
