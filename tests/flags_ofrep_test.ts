/**
 * The `flags` function (OFREP) on the running development stack, driven by OpenFeature's own
 * OFREP providers from npm: the server provider (`@openfeature/server-sdk` +
 * `@openfeature/ofrep-provider`, one request per evaluation) and the web provider
 * (`@openfeature/web-sdk` + `@openfeature/ofrep-web-provider`, bulk evaluation, polling with
 * If-None-Match). Every answer is checked against OFREP's response schemas, and every value
 * against the shared evaluator and SQL's `flags.evaluate`.
 */
import assert from "node:assert/strict";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
import { OpenFeature } from "@openfeature/server-sdk";
import { OpenFeature as WebOpenFeature, ProviderEvents } from "@openfeature/web-sdk";
import postgres from "postgres";
import { localEnv, readKeys } from "../scripts/local/config.ts";
import { signAccessToken } from "../scripts/local/jwt.ts";
import type { FlagDefinition } from "../supabase/functions/_shared/flags/definition.ts";
import { evaluateFlag } from "../supabase/functions/_shared/flags/evaluate.ts";
import { testFlag } from "../supabase/functions/_shared/flags/test_flag.ts";
import { ofrepProblems } from "./ofrep_definition.ts";

const env = localEnv("development");
const keys = await readKeys(env);
const BASE_URL = `${env.functionsUrl}/flags`;
const P = `zz_ofrep_${crypto.randomUUID().slice(0, 8)}`;

const flag = testFlag;

const FLAGS: FlagDefinition[] = [
  flag({ key: `${P}_bool` }),
  flag({
    key: `${P}_string`,
    targeting_rules: [{ attribute: "tier", op: "in", values: ["pro"] }],
    variants: [{ name: "compact", weight: 1, payload: "compact-layout" }],
  }),
  flag({
    key: `${P}_variant`,
    variants: [
      { name: "grid", weight: 50, payload: { layout: "grid", columns: 3 } },
      { name: "list", weight: 50, payload: { layout: "list" } },
    ],
  }),
  flag({ key: `${P}_split`, rollout_percent: 50 }),
  flag({ key: `${P}_off`, enabled: false, variants: [{ name: "compact", weight: 1 }] }),
];

async function withFlags(fn: (sql: postgres.Sql) => Promise<void>) {
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    for (const f of FLAGS) {
      await sql`
        insert into public.feature_flags
          (key, enabled, rollout_percent, stickiness, targeting_rules, variants)
        values (${f.key}, ${f.enabled}, ${f.rollout_percent}, ${f.stickiness},
                ${JSON.stringify(f.targeting_rules)}::text::jsonb,
                ${JSON.stringify(f.variants)}::text::jsonb)`;
    }
    await fn(sql);
  } finally {
    await sql`delete from public.feature_flags where key like ${P + "%"}`;
    await sql.end();
  }
}

function expected(key: string, ctx: Record<string, unknown>) {
  return evaluateFlag(FLAGS.find((f) => f.key === key)!, ctx);
}

/** A fetch that records each answer's status and checks its body against OFREP's schemas. */
function recordingFetch(statuses: number[], problems: string[]) {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await fetch(input, init);
    statuses.push(res.status);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const route = url.pathname.endsWith("/evaluate/flags") ? "bulk" : "single";
    if (res.status !== 304) {
      const body = await res.clone().json();
      problems.push(...ofrepProblems(route, res.status, body));
    }
    return res;
  };
}

Deno.test("OFREP server provider: boolean, string and variant flags; FLAG_NOT_FOUND; TARGETING_KEY_MISSING", async () => {
  await withFlags(async (sql) => {
    const statuses: number[] = [];
    const problems: string[] = [];
    await OpenFeature.setProviderAndWait(
      new OFREPProvider({
        baseUrl: BASE_URL,
        headers: [["Authorization", `Bearer ${keys.anon_key}`]],
        fetchImplementation: recordingFetch(statuses, problems),
      }),
    );
    try {
      const client = OpenFeature.getClient();
      const bool = await client.getBooleanDetails(`${P}_bool`, false, { targetingKey: "u1" });
      assert.deepEqual([bool.value, bool.variant, bool.reason], [true, "on", "STATIC"]);

      const str = await client.getStringDetails(`${P}_string`, "classic", {
        targetingKey: "u1",
        tier: "pro",
      });
      // A variant drawn by weight is SPLIT (the shared evaluator's reason), even alone.
      assert.deepEqual([str.value, str.variant, str.reason], [
        "compact-layout",
        "compact",
        "SPLIT",
      ]);
      // Off, a variant flag answers without a value: "use the code default" (OFREP ADR 0006).
      // This provider predates that ADR and reports it as a GENERAL error, with the default.
      const off = await client.getStringDetails(`${P}_off`, "classic", { targetingKey: "u1" });
      assert.deepEqual([off.value, off.reason, off.errorCode], ["classic", "ERROR", "GENERAL"]);

      for (const user of ["u1", "u2", "u3", "u4"]) {
        const ctx = { targetingKey: user };
        const got = await client.getObjectDetails(`${P}_variant`, {}, ctx);
        const want = expected(`${P}_variant`, { targeting_key: user });
        const [sqlResult] = await sql`
          select flags.evaluate(${`${P}_variant`}, ${
          JSON.stringify({ targeting_key: user })
        }::text::jsonb) as r`;
        assert.equal(got.variant, want.variant, user);
        assert.equal(got.variant, sqlResult.r.variant, `${user}: as SQL`);
        assert.deepEqual(got.value, want.payload);
        assert.equal(got.reason, "SPLIT");
      }

      const missing = await client.getBooleanDetails(`${P}_nope`, false, { targetingKey: "u1" });
      assert.deepEqual([missing.value, missing.errorCode], [false, "FLAG_NOT_FOUND"]);

      const noKey = await client.getBooleanDetails(`${P}_split`, true, {});
      assert.deepEqual([noKey.value, noKey.errorCode], [true, "TARGETING_KEY_MISSING"]);
      const noKeyVariant = await client.getObjectDetails(`${P}_variant`, { d: 1 }, {});
      assert.deepEqual([noKeyVariant.value, noKeyVariant.errorCode], [
        { d: 1 },
        "TARGETING_KEY_MISSING",
      ]);

      assert.deepEqual(problems, [], "every answer conforms to OFREP's schemas");
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 404, 400, 400]);
    } finally {
      await OpenFeature.close();
    }
  });
});

Deno.test("OFREP with a user's token: the user id is the default targeting key", async () => {
  await withFlags(async () => {
    const user = { id: crypto.randomUUID(), email: "ofrep@flags.test" };
    const token = await signAccessToken(keys.jwt_secret, user, {
      apiUrl: env.apiUrl,
      sessionId: crypto.randomUUID(),
    });
    const res = await fetch(`${BASE_URL}/ofrep/v1/evaluate/flags/${P}_split`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ context: {} }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(ofrepProblems("single", 200, body), []);
    const want = expected(`${P}_split`, { targeting_key: user.id });
    assert.equal(body.value, want.enabled);
    assert.equal(body.reason, "SPLIT");
  });
});

Deno.test("OFREP web provider: bulk evaluation, then 304 while unchanged, 200 and new values after a change", async () => {
  await withFlags(async (sql) => {
    const statuses: number[] = [];
    const problems: string[] = [];
    const provider = new OFREPWebProvider({
      baseUrl: BASE_URL,
      headers: [["Authorization", `Bearer ${keys.anon_key}`]],
      pollInterval: 100,
      cacheMode: "disabled",
      fetchImplementation: recordingFetch(statuses, problems),
    });
    await WebOpenFeature.setProviderAndWait(provider, { targetingKey: "u1", tier: "pro" });
    try {
      const client = WebOpenFeature.getClient();
      assert.equal(client.getBooleanValue(`${P}_bool`, false), true);
      assert.equal(client.getStringValue(`${P}_string`, "classic"), "compact-layout");
      const variant = client.getObjectDetails(`${P}_variant`, {});
      assert.equal(variant.variant, expected(`${P}_variant`, { targeting_key: "u1" }).variant);
      assert.equal(client.getBooleanDetails(`${P}_nope`, false).errorCode, "FLAG_NOT_FOUND");
      const off = client.getStringDetails(`${P}_off`, "classic");
      assert.deepEqual([off.value, off.reason, off.errorCode], ["classic", "DISABLED", undefined]);

      await waitFor(() => statuses.includes(304), "a 304 on an unchanged bulk request");
      const changed = new Promise<void>((resolve) =>
        client.addHandler(ProviderEvents.ConfigurationChanged, () => resolve())
      );
      await sql`update public.feature_flags set enabled = false where key = ${`${P}_bool`}`;
      await changed;
      assert.equal(client.getBooleanDetails(`${P}_bool`, true).reason, "DISABLED");
      assert.equal(client.getBooleanValue(`${P}_bool`, true), false);
      assert.equal(statuses[0], 200);
      assert.equal(statuses.at(-1), 200, "the change was answered in full");
      assert.deepEqual(problems, []);
    } finally {
      await WebOpenFeature.close();
    }
  });
});

async function waitFor(ok: () => boolean, what: string, ms = 10_000) {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
