/**
 * A stand-in for the parts of Supabase's Management API (api.supabase.com) that the pinned
 * Supabase CLI calls for `supabase functions deploy --use-api|delete|list` and
 * `supabase secrets set|list|unset`, serving every environment of a local stack by project ref.
 * Routes, payloads and answers follow what CLI 2.117.0 sends and parses (its generated OpenAPI
 * client, `pkg/api`), checked by capturing its requests:
 *
 * - `GET /v1/projects/{ref}` → the project (the CLI asks after every command, for telemetry);
 * - `POST /v1/projects/{ref}/functions/deploy?slug=<slug>[&bundleOnly=true]`, multipart: `file`
 *   parts named by their path relative to where the CLI ran, then a `metadata` part
 *   (`entrypoint_path`, `import_map_path`, `static_patterns`, `verify_jwt`, `name`) → 201 with
 *   the function; live at once, or only staged with `bundleOnly` (several functions);
 * - `PUT /v1/projects/{ref}/functions` with those answers → the staged versions go live →
 *   200 `{ functions }`;
 * - `GET /v1/projects/{ref}/functions[/{slug}]`, `DELETE /v1/projects/{ref}/functions/{slug}`;
 * - `GET /v1/projects/{ref}/secrets` → `[{ name, value: <SHA-256 hex of the value>, updated_at }]`
 *   including the platform's `SUPABASE_*` variables (values are never returned);
 *   `POST` `[{ name, value }]` → 201; `DELETE` `["NAME", …]` → 200.
 *
 * Every request needs `Authorization: Bearer <the stack's access token>` (401 otherwise); an
 * unknown ref answers 404. Errors are `{ "message": … }`, as the real API's.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { createFunctionStore, type Deployment, type FunctionStore } from "./function_store.ts";
import { readSecrets, updateSecrets } from "./secret_store.ts";

/** One project (a local environment) the API serves. */
export interface ManagedProject {
  ref: string;
  /** The environment's name, reported as the project's name. */
  name: string;
  /** Where its deployments live (`LocalEnv.deployDir`). */
  deployDir: string;
  /** Its secrets file (`LocalEnv.secretsFile`). */
  secretsFile: string;
  /** The database host, reported in the project. */
  dbHost: string;
  /** The platform variables every function gets, listed (as digests) among the secrets. */
  platformSecrets: () => Promise<Record<string, string>>;
}

/** Options of {@link createManagementApp}. */
export interface ManagementAppOptions {
  /** The projects, by ref. */
  projects: ManagedProject[];
  /** The one access token accepted (`sbp_` + 40 hex digits). */
  accessToken: string;
  /** Called after a project's live functions or secrets changed (the gateway reloads). */
  onChange?: (ref: string) => Promise<void>;
}

const SecretsBody = z.array(z.object({ name: z.string(), value: z.string() })).min(1);
const NamesBody = z.array(z.string()).min(1);
const BulkBody = z.array(z.object({ slug: z.string(), version: z.number().int() })).min(1);
const Metadata = z.object({
  name: z.string().optional(),
  entrypoint_path: z.string().min(1),
  import_map_path: z.string().optional(),
  static_patterns: z.array(z.string()).optional(),
  verify_jwt: z.boolean().optional(),
});
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SLUG = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** The function as the API answers it (`FunctionResponse`, `DeployFunctionResponse`). */
export function functionResponse(d: Deployment) {
  return {
    id: d.id,
    slug: d.slug,
    name: d.name,
    version: d.version,
    status: "ACTIVE" as const,
    entrypoint_path: d.entrypoint_path,
    ...(d.import_map_path === null ? {} : { import_map_path: d.import_map_path }),
    import_map: d.import_map_path !== null,
    verify_jwt: d.verify_jwt,
    created_at: d.created_at,
    updated_at: d.updated_at,
  };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function fail(c: Context, status: ContentfulStatusCode, message: string): Response {
  return c.json({ message }, status);
}

/**
 * Creates the Management API app.
 *
 * @param opts the projects, the access token and what to do after a change
 * @returns a Hono app; serve it with `Deno.serve(app.fetch)` or test it with `app.request()`
 * @example
 * ```ts
 * const app = createManagementApp({ projects, accessToken, onChange: reloadGateway });
 * Deno.serve({ hostname: "127.0.0.1", port: 54300 }, app.fetch);
 * ```
 */
export function createManagementApp(opts: ManagementAppOptions): Hono {
  const projects = new Map(opts.projects.map((p) => [p.ref, p]));
  const stores = new Map<string, FunctionStore>();
  const storeOf = (p: ManagedProject) => {
    if (!stores.has(p.ref)) stores.set(p.ref, createFunctionStore(p.deployDir));
    return stores.get(p.ref)!;
  };
  const changed = (ref: string) => opts.onChange?.(ref) ?? Promise.resolve();
  // Secret writes of all projects, one at a time (each is a read-modify-write of a file).
  let secretWrites: Promise<unknown> = Promise.resolve();
  const app = new Hono<{ Variables: { project: ManagedProject } }>();

  // Token first, then the project: an unknown ref tells nothing to a caller without the token.
  const authorize: MiddlewareHandler<{ Variables: { project: ManagedProject } }> = async (
    c,
    next,
  ) => {
    if (c.req.header("authorization") !== `Bearer ${opts.accessToken}`) {
      return fail(c, 401, "Unauthorized");
    }
    const project = projects.get(c.req.param("ref") ?? "");
    if (!project) return fail(c, 404, "Project not found");
    c.set("project", project);
    return await next();
  };
  app.use("/v1/projects/:ref", authorize);
  app.use("/v1/projects/:ref/*", authorize);

  app.get("/v1/projects/:ref", (c) => {
    const p = c.get("project");
    return c.json({
      id: p.ref,
      ref: p.ref,
      organization_id: "stagecoach-local",
      organization_slug: "stagecoach-local",
      name: p.name,
      region: "local",
      created_at: new Date(0).toISOString(),
      status: "ACTIVE_HEALTHY",
      database: {
        host: p.dbHost,
        version: "15",
        postgres_engine: "15",
        release_channel: "ga",
      },
    });
  });

  app.post("/v1/projects/:ref/functions/deploy", async (c) => {
    const p = c.get("project");
    const slug = c.req.query("slug") ?? "";
    if (!SLUG.test(slug)) return fail(c, 400, `Invalid function slug: "${slug}"`);
    let form: FormData;
    try {
      form = await c.req.raw.formData();
    } catch (err) {
      return fail(c, 400, `Cannot read the multipart body: ${(err as Error).message}`);
    }
    const meta = Metadata.safeParse(parseJsonOrNull(form.get("metadata")));
    if (!meta.success) {
      return fail(c, 400, `Invalid metadata: ${meta.error.issues[0]?.message ?? "missing"}`);
    }
    const files = await Promise.all(
      form.getAll("file").filter((f): f is File => f instanceof File).map(async (f) => ({
        path: f.name,
        bytes: new Uint8Array(await f.arrayBuffer()),
      })),
    );
    const store = storeOf(p);
    let deployment: Deployment;
    try {
      deployment = await store.stage(slug, meta.data, files);
    } catch (err) {
      return fail(c, 400, (err as Error).message);
    }
    if (c.req.query("bundleOnly") !== "true") {
      await store.activate(slug, deployment.version);
      await changed(p.ref);
    }
    return c.json(functionResponse(deployment), 201);
  });

  app.put("/v1/projects/:ref/functions", async (c) => {
    const p = c.get("project");
    const body = BulkBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return fail(c, 400, "Invalid body: expected the deployed functions");
    const store = storeOf(p);
    const live: Deployment[] = [];
    for (const { slug, version } of body.data) {
      const d = await store.activate(slug, version);
      if (!d) return fail(c, 404, `Function ${slug} has no version ${version}`);
      live.push(d);
    }
    await changed(p.ref);
    return c.json({ functions: live.map(functionResponse) });
  });

  app.get("/v1/projects/:ref/functions", async (c) => {
    return c.json((await storeOf(c.get("project")).list()).map(functionResponse));
  });
  app.get("/v1/projects/:ref/functions/:slug", async (c) => {
    const d = await storeOf(c.get("project")).get(c.req.param("slug"));
    return d ? c.json(functionResponse(d)) : fail(c, 404, "Function not found");
  });
  app.delete("/v1/projects/:ref/functions/:slug", async (c) => {
    const p = c.get("project");
    if (!(await storeOf(p).remove(c.req.param("slug")))) return fail(c, 404, "Function not found");
    await changed(p.ref);
    return c.json({});
  });

  app.get("/v1/projects/:ref/secrets", async (c) => {
    const p = c.get("project");
    const now = new Date().toISOString();
    const stored = Object.entries(await readSecrets(p.secretsFile))
      .map(([name, s]) => ({ name, value: s.value, updated_at: s.updated_at }));
    const platform = Object.entries(await p.platformSecrets())
      .map(([name, value]) => ({ name, value, updated_at: now }));
    const list = await Promise.all(
      [...platform, ...stored].map(async (s) => ({ ...s, value: await sha256Hex(s.value) })),
    );
    return c.json(list);
  });
  app.post("/v1/projects/:ref/secrets", async (c) => {
    const p = c.get("project");
    const body = SecretsBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return fail(c, 400, "Invalid body: expected [{ name, value }]");
    for (const { name } of body.data) {
      if (/^supabase_/i.test(name)) {
        return fail(c, 400, `Invalid secret name ${name}: names must not start with SUPABASE_`);
      }
      if (!SECRET_NAME.test(name)) return fail(c, 400, `Invalid secret name ${name}`);
    }
    const set = Object.fromEntries(body.data.map((s) => [s.name, s.value]));
    const write = secretWrites.then(() => updateSecrets(p.secretsFile, { set }));
    secretWrites = write.catch(() => {});
    if (await write) await changed(p.ref);
    return c.body(null, 201);
  });
  app.delete("/v1/projects/:ref/secrets", async (c) => {
    const p = c.get("project");
    const body = NamesBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return fail(c, 400, "Invalid body: expected the secret names");
    const write = secretWrites.then(() => updateSecrets(p.secretsFile, { unset: body.data }));
    secretWrites = write.catch(() => {});
    if (await write) await changed(p.ref);
    return c.json({});
  });

  app.notFound((c) => fail(c, 404, `Cannot ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    console.error("management api error:", err);
    return fail(c, 500, "Internal error");
  });
  return app as unknown as Hono;
}

function parseJsonOrNull(value: FormDataEntryValue | null): unknown {
  if (typeof value !== "string") return null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}
