import assert from "node:assert/strict";
import {
  accessToken,
  hostedTarget,
  MissingCredentialsError,
  resolveTarget,
  secretsFromVariables,
} from "./target.ts";

const REF = "abcdefghijklmnopqrst";
const DB = `postgresql://postgres.${REF}:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres`;

Deno.test("hostedTarget: null when none of the environment's variables is set", () => {
  assert.equal(hostedTarget("staging", { STAGECOACH_PRODUCTION_DB_URL: DB }), null);
});

Deno.test("hostedTarget: derives the API and functions URLs from the project ref", () => {
  const t = hostedTarget("staging", {
    STAGECOACH_STAGING_PROJECT_REF: REF,
    STAGECOACH_STAGING_DB_URL: DB,
    STAGECOACH_STAGING_ANON_KEY: "anon",
  })!;
  assert.equal(t.mode, "hosted");
  assert.equal(t.apiUrl, `https://${REF}.supabase.co`);
  assert.equal(t.functionsUrl, `https://${REF}.supabase.co/functions/v1`);
  assert.equal(t.anonKey, "anon");
  assert.equal(t.local, undefined);
});

Deno.test("hostedTarget: explicit URLs win and lose their trailing slash", () => {
  const t = hostedTarget("production", {
    STAGECOACH_PRODUCTION_DB_URL: DB,
    STAGECOACH_PRODUCTION_API_URL: "http://127.0.0.1:54341/",
  })!;
  assert.equal(t.apiUrl, "http://127.0.0.1:54341");
  assert.equal(t.functionsUrl, "http://127.0.0.1:54341/functions/v1");
  assert.equal(t.projectRef, undefined);
});

Deno.test("hostedTarget: a half-described environment is refused naming the variable", () => {
  assert.throws(
    () => hostedTarget("staging", { STAGECOACH_STAGING_PROJECT_REF: REF }),
    /STAGECOACH_STAGING_DB_URL is missing/,
  );
  assert.throws(
    () => hostedTarget("staging", { STAGECOACH_STAGING_DB_URL: DB }),
    /set STAGECOACH_STAGING_PROJECT_REF/,
  );
  assert.throws(
    () =>
      hostedTarget("staging", {
        STAGECOACH_STAGING_DB_URL: "mysql://x",
        STAGECOACH_STAGING_PROJECT_REF: REF,
      }),
    /Cannot read STAGECOACH_STAGING_DB_URL: expected a postgresql:\/\/ URL/,
  );
  assert.throws(
    () =>
      hostedTarget("staging", {
        STAGECOACH_STAGING_DB_URL: DB,
        STAGECOACH_STAGING_PROJECT_REF: "Not-A-Ref",
      }),
    /Cannot read STAGECOACH_STAGING_PROJECT_REF/,
  );
});

Deno.test("resolveTarget: the local stack's environment when no variable is set", () => {
  const t = resolveTarget("development", {
    vars: {},
    stack: { home: "/tmp/nowhere", portOffset: 7 },
  });
  assert.equal(t.mode, "local");
  assert.equal(t.dbUrl, "postgresql://postgres:postgres@127.0.0.1:54329/postgres");
  assert.equal(t.local?.name, "development");
  assert.throws(() => resolveTarget("qa", { vars: {} }), /Cannot find environment "qa"/);
});

Deno.test("secretsFromVariables: only the STAGECOACH_FUNCTION_SECRET_ prefix, stripped", () => {
  assert.deepEqual(
    secretsFromVariables({
      STAGECOACH_FUNCTION_SECRET_STRIPE_SECRET_KEY: "sk_test_1",
      STAGECOACH_FUNCTION_SECRET_EMPTY: "",
      STRIPE_SECRET_KEY: "ignored",
    }),
    { STRIPE_SECRET_KEY: "sk_test_1" },
  );
});

Deno.test("accessToken: STAGECOACH_TOKEN, else a clear error; --as refused for hosted", async () => {
  const t = hostedTarget("staging", {
    STAGECOACH_STAGING_DB_URL: DB,
    STAGECOACH_STAGING_PROJECT_REF: REF,
  })!;
  assert.equal(await accessToken(t, { vars: { STAGECOACH_TOKEN: "tok" } }), "tok");
  await assert.rejects(() => accessToken(t, { vars: {} }), MissingCredentialsError);
  await assert.rejects(
    () => accessToken(t, { as: "a@b.c", vars: {} }),
    /Cannot mint a token with --as in staging: it is a hosted project/,
  );
});

Deno.test("accessToken: signs in with the password grant and the anon key", async () => {
  const seen: { url: string; apikey: string | null; body: unknown }[] = [];
  const server = Deno.serve({ port: 0, onListen: () => {} }, async (req) => {
    seen.push({ url: req.url, apikey: req.headers.get("apikey"), body: await req.json() });
    return Response.json({ access_token: "jwt", token_type: "bearer", expires_in: 3600 });
  });
  try {
    const t = hostedTarget("staging", {
      STAGECOACH_STAGING_DB_URL: DB,
      STAGECOACH_STAGING_API_URL: `http://127.0.0.1:${server.addr.port}`,
      STAGECOACH_STAGING_ANON_KEY: "anon",
    })!;
    const token = await accessToken(t, {
      vars: { STAGECOACH_EMAIL: "ci@x.test", STAGECOACH_PASSWORD: "pw" },
    });
    assert.equal(token, "jwt");
    assert.equal(new URL(seen[0].url).search, "?grant_type=password");
    assert.equal(seen[0].apikey, "anon");
    assert.deepEqual(seen[0].body, { email: "ci@x.test", password: "pw" });
  } finally {
    await server.shutdown();
  }
});

Deno.test("accessToken: a refused sign-in names GoTrue's reason", async () => {
  const server = Deno.serve({ port: 0, onListen: () => {} }, () =>
    Response.json(
      { error: "invalid_grant", error_description: "Invalid login credentials" },
      { status: 400 },
    ));
  try {
    const t = hostedTarget("staging", {
      STAGECOACH_STAGING_DB_URL: DB,
      STAGECOACH_STAGING_API_URL: `http://127.0.0.1:${server.addr.port}`,
      STAGECOACH_STAGING_ANON_KEY: "anon",
    })!;
    await assert.rejects(
      () => accessToken(t, { vars: { STAGECOACH_EMAIL: "ci@x.test", STAGECOACH_PASSWORD: "no" } }),
      /Cannot sign in to staging as ci@x.test: Invalid login credentials/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("hostedTarget: without a database URL only when the command calls the API alone", () => {
  const vars = { STAGECOACH_STAGING_API_URL: "https://api.example.test" };
  assert.throws(() => hostedTarget("staging", vars), /STAGECOACH_STAGING_DB_URL is missing/);
  const t = hostedTarget("staging", vars, { database: false });
  assert.equal(t?.mode, "hosted");
  assert.equal(t?.dbUrl, "");
  assert.equal(t?.functionsUrl, "https://api.example.test/functions/v1");
});
