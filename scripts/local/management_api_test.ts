import assert from "node:assert/strict";
import { join } from "node:path";
import { createManagementApp } from "./management_api.ts";
import { liveFunctions } from "./function_store.ts";

const TOKEN = `sbp_${"ab".repeat(20)}`;
const REF = "stagecoachlocaldevel";

async function withApp(
  run: (
    app: ReturnType<typeof createManagementApp>,
    ctx: { dir: string; changes: string[] },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const changes: string[] = [];
  const app = createManagementApp({
    projects: [{
      ref: REF,
      name: "development",
      deployDir: join(dir, "functions"),
      secretsFile: join(dir, "secrets.json"),
      dbHost: "127.0.0.1",
      platformSecrets: () => Promise.resolve({ SUPABASE_URL: "http://127.0.0.1:54321" }),
    }],
    accessToken: TOKEN,
    onChange: (ref) => {
      changes.push(ref);
      return Promise.resolve();
    },
  });
  try {
    await run(app, { dir, changes });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A multipart body laid out as the Supabase CLI writes it: files first, metadata last. */
function deployBody(
  files: Record<string, string>,
  metadata: Record<string, unknown>,
): { body: string; type: string } {
  const boundary = "----WebKitFormBoundary0123456789abcdef";
  const parts = Object.entries(files).map(([path, text]) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path}"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n${text}\r\n`
  );
  parts.push(
    `--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n` +
      `${JSON.stringify(metadata)}\n\r\n`,
  );
  return {
    body: `${parts.join("")}--${boundary}--\r\n`,
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

const auth = { authorization: `Bearer ${TOKEN}` };
const FILES: Record<string, string> = {
  "supabase/functions/import_map.json": '{ "imports": { "hono": "npm:hono@4.13.19" } }',
  "supabase/functions/hello/index.ts": 'import "./dep.ts";\nDeno.serve(() => new Response("hi"));',
  "supabase/functions/hello/dep.ts": "export {};",
};
const META = {
  entrypoint_path: "supabase/functions/hello/index.ts",
  import_map_path: "supabase/functions/import_map.json",
  static_patterns: [],
  verify_jwt: false,
  name: "hello",
};

function deploy(
  app: ReturnType<typeof createManagementApp>,
  query: string,
  files = FILES,
  meta: Record<string, unknown> = META,
) {
  const { body, type } = deployBody(files, meta);
  return app.request(`/v1/projects/${REF}/functions/deploy?${query}`, {
    method: "POST",
    headers: { ...auth, "content-type": type },
    body,
  });
}

Deno.test("management api refuses a missing or wrong access token with 401", async () => {
  await withApp(async (app) => {
    for (
      const headers of [{}, { authorization: `Bearer sbp_${"0".repeat(40)}` }] as Record<
        string,
        string
      >[]
    ) {
      const res = await app.request(`/v1/projects/${REF}/secrets`, { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), { message: "Unauthorized" });
    }
  });
});

Deno.test("management api answers 404 for a project ref it does not serve", async () => {
  await withApp(async (app) => {
    for (const path of ["", "/secrets", "/functions"]) {
      const res = await app.request(`/v1/projects/abcdefghijklmnopqrst${path}`, { headers: auth });
      assert.equal(res.status, 404, path);
      assert.deepEqual(await res.json(), { message: "Project not found" });
    }
    const project = await (await app.request(`/v1/projects/${REF}`, { headers: auth })).json();
    assert.equal(project.ref, REF);
  });
});

Deno.test("management api stores a deploy's files at their uploaded paths and serves it at once", async () => {
  await withApp(async (app, { dir, changes }) => {
    const res = await deploy(app, "slug=hello");
    assert.equal(res.status, 201);
    const fn = await res.json();
    assert.equal(fn.slug, "hello");
    assert.equal(fn.version, 1);
    assert.equal(fn.status, "ACTIVE");
    assert.equal(fn.verify_jwt, false);
    assert.equal(fn.import_map_path, "supabase/functions/import_map.json");
    assert.deepEqual(changes, [REF]);
    const [live] = await liveFunctions(join(dir, "functions"));
    assert.equal(live.entry, join(live.dir, "supabase/functions/hello/index.ts"));
    assert.equal(
      await Deno.readTextFile(join(live.dir, "supabase/functions/hello/dep.ts")),
      "export {};",
    );
    assert.equal(live.importMap, join(live.dir, "supabase/functions/import_map.json"));
    assert.equal(live.verifyJwt, false);

    const again = await (await deploy(app, "slug=hello")).json();
    assert.equal(again.version, 2);
    assert.equal(again.id, fn.id);
  });
});

Deno.test("management api serves bundleOnly deploys only after the bulk update", async () => {
  await withApp(async (app, { dir, changes }) => {
    const staged = await (await deploy(app, "slug=hello&bundleOnly=true")).json();
    assert.deepEqual(await liveFunctions(join(dir, "functions")), []);
    assert.deepEqual(changes, []);
    const res = await app.request(`/v1/projects/${REF}/functions`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify([staged]),
    });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).functions.map((f: { slug: string }) => f.slug), ["hello"]);
    assert.equal((await liveFunctions(join(dir, "functions")))[0].version, 1);
    const list = await (await app.request(`/v1/projects/${REF}/functions`, { headers: auth }))
      .json();
    assert.equal(list.length, 1);
    const del = await app.request(`/v1/projects/${REF}/functions/hello`, {
      method: "DELETE",
      headers: auth,
    });
    assert.equal(del.status, 200);
    assert.deepEqual(await liveFunctions(join(dir, "functions")), []);
  });
});

Deno.test("management api refuses uploads that escape their folder or miss the entrypoint", async () => {
  await withApp(async (app) => {
    const escape = await deploy(app, "slug=hello", { ...FILES, "../../outside.ts": "x" });
    assert.equal(escape.status, 400);
    const noEntry = await deploy(app, "slug=hello", {
      "supabase/functions/import_map.json": "{}",
    });
    assert.equal(noEntry.status, 400);
    assert.match((await noEntry.json()).message, /entrypoint/);
    const noMeta = await deploy(app, "slug=hello", FILES, {});
    assert.equal(noMeta.status, 400);
  });
});

Deno.test("management api sets, lists (as SHA-256 digests) and unsets secrets", async () => {
  await withApp(async (app, { changes }) => {
    const json = { ...auth, "content-type": "application/json" };
    const set = await app.request(`/v1/projects/${REF}/secrets`, {
      method: "POST",
      headers: json,
      body: JSON.stringify([{ name: "API_KEY", value: "s3cret" }]),
    });
    assert.equal(set.status, 201);
    const list = await (await app.request(`/v1/projects/${REF}/secrets`, { headers: auth })).json();
    const digest = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("s3cret"))),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const names = list.map((s: { name: string }) => s.name);
    assert.deepEqual(names.sort(), ["API_KEY", "SUPABASE_URL"]);
    assert.equal(list.find((s: { name: string }) => s.name === "API_KEY").value, digest);
    assert.ok(!JSON.stringify(list).includes("s3cret"));
    const reserved = await app.request(`/v1/projects/${REF}/secrets`, {
      method: "POST",
      headers: json,
      body: JSON.stringify([{ name: "SUPABASE_URL", value: "x" }]),
    });
    assert.equal(reserved.status, 400);
    const unset = await app.request(`/v1/projects/${REF}/secrets`, {
      method: "DELETE",
      headers: json,
      body: JSON.stringify(["API_KEY"]),
    });
    assert.equal(unset.status, 200);
    assert.deepEqual(changes, [REF, REF]);
  });
});
