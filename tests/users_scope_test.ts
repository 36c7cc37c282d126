/**
 * Scope `users` through the product: a promotion planned with the API (one high-risk
 * `users_copy` change), approved by two approvers as production's policy asks, is what lets a
 * faithful `users copy` run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SCOPES } from "../supabase/functions/_shared/promotion/kinds.ts";
import { cli, uniqueSuffix, withHarness } from "./promotion_helpers.ts";

Deno.test("an approved users promotion made through the API lets a faithful copy run", async () => {
  await withHarness(async (h) => {
    const t = `us${uniqueSuffix().toLowerCase().replace(/[^a-z0-9]/g, "")}`;
    const like = `%@${t}.example.com`;
    try {
      await h.db.staging`
        insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
          email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
          confirmation_token, recovery_token, email_change_token_new, email_change)
        select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
               'authenticated', 'p' || g || '@' || ${t} || '.example.com',
               extensions.crypt('own-password', extensions.gen_salt('bf', 4)), now(),
               '{"provider": "email"}', '{}', now(), now(), '', '', '', ''
        from generate_series(1, 2) as g`;
      const copy = (promotion?: string) =>
        cli([
          "users",
          "copy",
          "--from",
          "staging",
          "--to",
          "production",
          "--mode",
          "faithful",
          "--where",
          `u.email like '${like}'`,
          ...(promotion ? ["--promotion", promotion] : []),
          "--json",
        ], { STAGECOACH_ANON_KEY: "" });

      const planned = await h.plan("staging", "production", { scope: ["users"] });
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;
      assert.deepEqual(
        p.plan.changes.map((c: { kind: string; key: string; risk: string }) => [
          c.kind,
          c.key,
          c.risk,
        ]),
        [["users_copy", "staging→production", "high"]],
      );
      assert.equal(p.required_approvals, 2, "a faithful copy is high risk: two approvals");

      const early = await copy(p.id);
      assert.equal(early.code, 1, "awaiting approval: the copy is refused");
      assert.match(early.stderr, /its status is awaiting_approval, not approved/);

      assert.equal(await h.approveAsNeeded("production", p), "approved");
      const ok = await copy(p.id);
      assert.equal(ok.code, 0, ok.stderr);
      const rows = await h.db.production`
        select email, encrypted_password = extensions.crypt('own-password', encrypted_password) as own
        from auth.users where email like ${like} order by email`;
      assert.deepEqual(rows.map((r) => [r.email, r.own]), [
        [`p1@${t}.example.com`, true],
        [`p2@${t}.example.com`, true],
      ]);
    } finally {
      await h.db.production`delete from auth.users where email like ${like}`;
      await h.db.staging`delete from auth.users where email like ${like}`;
    }
  });
});

Deno.test("scopes are declared once: the database's check allows exactly SCOPES", async () => {
  await withHarness(async (h) => {
    const [{ def }] = await h.db.production`
      select pg_get_constraintdef(oid) as def from pg_constraint
      where conname = 'promotions_scope_check' and conrelid = 'ops.promotions'::regclass`;
    const listed = [...String(def).matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]);
    assert.deepEqual([...listed].sort(), [...SCOPES].sort());
  });
});
