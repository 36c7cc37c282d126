/**
 * The real `supabase functions deploy --use-api` and `supabase secrets` against the running
 * local stack's Management API stand-in (development): every function then answers from the
 * uploaded files alone, a function deployed without its import map cannot boot, and secrets
 * round-trip as digests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type EnvKeys,
  type LocalEnv,
  localEnv,
  managementApiConfig,
  readKeys,
  REPO_ROOT,
} from "../scripts/local/config.ts";
import { supabaseCli } from "../scripts/local/deploy.ts";

const PROBE = `
import { Hono } from "hono";
import { z } from "zod";
import { CUSTOM_CHECKS } from "../_shared/validation/custom_checks.generated.ts";

const app = new Hono().basePath("/NAME");
app.get("/", (c) =>
  c.json({
    marker: z.string().parse("deployed from the copy"),
    module: import.meta.url,
    cwd: Deno.cwd(),
    checks: CUSTOM_CHECKS.map((check) => check.name),
  }));
Deno.serve(app.fetch);
`;

async function devStack(): Promise<{ env: LocalEnv; keys: EnvKeys }> {
  const env = localEnv("development");
  const res = await fetch(`${managementApiConfig().url}/v1/projects/${env.projectRef}`, {
    signal: AbortSignal.timeout(3000),
  }).catch((cause) => {
    throw new Error("Cannot reach the Management API: start the stack (npm start)", { cause });
  });
  await res.body?.cancel();
  return { env, keys: await readKeys(env) };
}

/** A throwaway copy of the project's `supabase/` folder with one probe function added. */
async function projectCopy(probe: string, opts: { importMap: boolean }): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "stagecoach-deploy-" });
  const cp = await new Deno.Command("cp", {
    args: ["-r", join(REPO_ROOT, "supabase"), dir],
  }).output();
  assert.ok(cp.success, "copy supabase/");
  await Deno.remove(join(dir, "supabase/.temp"), { recursive: true }).catch(() => {});
  await Deno.mkdir(join(dir, "supabase/functions", probe));
  await Deno.writeTextFile(
    join(dir, "supabase/functions", probe, "index.ts"),
    PROBE.replace("NAME", probe),
  );
  const config = join(dir, "supabase/config.toml");
  await Deno.writeTextFile(
    config,
    `\n[functions.${probe}]\n${
      opts.importMap ? 'import_map = "./functions/import_map.json"\n' : ""
    }verify_jwt = false\n`,
    { append: true },
  );
  return dir;
}

async function deploy(env: LocalEnv, cwd: string, slugs: string[] = []) {
  return await supabaseCli(["functions", "deploy", ...slugs, "--use-api"], {
    env,
    api: managementApiConfig(),
    cwd,
  });
}

async function undeploy(env: LocalEnv, slug: string) {
  await supabaseCli(["functions", "delete", slug], { env, api: managementApiConfig() });
}

Deno.test("functions deployed with the real CLI answer from the uploaded files alone", async () => {
  const { env, keys } = await devStack();
  const probe = "deploy-probe";
  const copy = await projectCopy(probe, { importMap: true });
  try {
    const { stderr } = await deploy(env, copy);
    assert.match(stderr, /Uploading asset \(ops\): supabase\/functions\/import_map\.json/);
  } finally {
    // The copy is gone before any function is called: nothing can come from it, or from the
    // checkout (the probe never existed there).
    await Deno.remove(copy, { recursive: true });
  }
  try {
    const res = await fetch(`${env.functionsUrl}/${probe}`);
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.marker, "deployed from the copy");
    assert.ok(body.module.startsWith(`file://${env.deployDir}/${probe}/`), body.module);
    assert.ok(body.cwd.startsWith(`${env.deployDir}/${probe}/`), body.cwd);
    assert.deepEqual(body.checks, ["active_tiers_have_prices"]);

    const health = await fetch(`${env.functionsUrl}/ops/health`, {
      headers: { authorization: `Bearer ${keys.anon_key}` },
    });
    assert.deepEqual(await health.json(), { ok: true, env: "development" });
    const webhook = await fetch(`${env.functionsUrl}/stripe-webhook`, {
      method: "POST",
      body: "{}",
    });
    assert.equal(webhook.status, 400);
    assert.equal((await webhook.json()).error.code, "missing_signature");
    const worker = await fetch(`${env.functionsUrl}/ops-worker`, {
      headers: { authorization: `Bearer ${keys.service_role_key}` },
    });
    await worker.body?.cancel();
    assert.ok(worker.status < 500, `ops-worker answered ${worker.status}`);
  } finally {
    await undeploy(env, probe);
  }
  const gone = await fetch(`${env.functionsUrl}/${probe}`);
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).code, "NOT_FOUND");
});

Deno.test("a function deployed without its import map cannot boot: 503 BOOT_ERROR", async () => {
  const { env } = await devStack();
  const probe = "deploy-probe-nomap";
  const copy = await projectCopy(probe, { importMap: false });
  try {
    await Deno.remove(join(copy, "supabase/functions/import_map.json"));
    await deploy(env, copy, [probe]);
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
  try {
    const res = await fetch(`${env.functionsUrl}/${probe}`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      code: "BOOT_ERROR",
      message: "Function failed to start (please check logs)",
    });
  } finally {
    await undeploy(env, probe);
  }
});

Deno.test("supabase secrets set, list and unset round-trip through the Management API", async () => {
  const { env } = await devStack();
  const api = managementApiConfig();
  const value = `value-${crypto.randomUUID()}`;
  await supabaseCli(["secrets", "set", `DEPLOY_TEST_SECRET=${value}`], { env, api });
  try {
    const { stdout } = await supabaseCli(["secrets", "list", "-o", "json"], { env, api });
    assert.ok(!stdout.includes(value), "secrets list never shows a value");
    const listed = JSON.parse(stdout) as { name: string; value: string }[];
    const digest = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value))),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.equal(listed.find((s) => s.name === "DEPLOY_TEST_SECRET")?.value, digest);
    assert.ok(listed.some((s) => s.name === "SUPABASE_URL"), "platform variables are listed");
  } finally {
    await supabaseCli(["secrets", "unset", "DEPLOY_TEST_SECRET", "--yes"], { env, api });
  }
  const { stdout } = await supabaseCli(["secrets", "list", "-o", "json"], { env, api });
  assert.ok(!JSON.parse(stdout).some((s: { name: string }) => s.name === "DEPLOY_TEST_SECRET"));
});
