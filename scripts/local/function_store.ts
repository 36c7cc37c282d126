/**
 * The local stack's store of deployed Edge Functions: what `supabase functions deploy
 * --use-api` uploaded, kept per environment as Supabase keeps it per project.
 *
 * Layout under the environment's `deployDir`:
 * - `<slug>/<version>/files/<path>`: every uploaded file at the path the CLI sent (relative to
 *   the folder the CLI ran in, e.g. `supabase/functions/ops/index.ts`);
 * - `<slug>/<version>/deployment.json`: the version's {@link Deployment} (entrypoint, import
 *   map path, `verify_jwt`, each file's SHA-256);
 * - `registry.json`: the live version of each function, by slug.
 *
 * A deploy first stages a version; it serves only once activated (at once for a single
 * function, by the bulk update for several — as the CLI drives the real API).
 *
 * @module
 */
import { dirname, join, posix } from "node:path";

/** The `metadata` part of a deploy upload (the CLI's `FunctionDeployMetadata`). */
export interface DeployMetadata {
  name?: string;
  entrypoint_path: string;
  import_map_path?: string;
  static_patterns?: string[];
  verify_jwt?: boolean;
}

/** One uploaded file. */
export interface UploadedFile {
  path: string;
  bytes: Uint8Array;
}

/** One deployed version of a function. */
export interface Deployment {
  id: string;
  slug: string;
  name: string;
  version: number;
  entrypoint_path: string;
  /** The uploaded import map, or null when none was uploaded. */
  import_map_path: string | null;
  verify_jwt: boolean;
  files: { path: string; sha256: string }[];
  /** Milliseconds since the epoch, as the Management API reports them. */
  created_at: number;
  updated_at: number;
}

/** What the gateway needs to run a live function. */
export interface LiveFunction {
  slug: string;
  version: number;
  verifyJwt: boolean;
  /** The version's `files` folder: the function process's working directory. */
  dir: string;
  /** Absolute path of the entrypoint. */
  entry: string;
  /** Absolute path of the import map, or null. */
  importMap: string | null;
}

/**
 * Checks an uploaded path: relative, forward slashes, no `.` or `..` segment.
 *
 * @returns the path
 * @throws {Error} naming the path when it could escape the version's folder
 * @example
 * ```ts
 * checkUploadPath("supabase/functions/ops/index.ts"); // ok
 * checkUploadPath("../etc/passwd"); // throws
 * ```
 */
export function checkUploadPath(path: string): string {
  const segments = path.split("/");
  if (
    path === "" || path.startsWith("/") || path.includes("\\") || path.includes("\0") ||
    segments.some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new Error(`Cannot store file "${path}": paths must be relative, without . or ..`);
  }
  return path;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

async function readJson<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return fallback;
    throw err;
  }
}

/** The deployments of one environment. */
export interface FunctionStore {
  /** Stores a new version of a function (not live yet) and returns it. */
  stage(slug: string, meta: DeployMetadata, files: UploadedFile[]): Promise<Deployment>;
  /** Makes a staged version the live one; undefined when that version does not exist. */
  activate(slug: string, version: number): Promise<Deployment | undefined>;
  /** The live functions, sorted by slug. */
  list(): Promise<Deployment[]>;
  /** The live version of a function. */
  get(slug: string): Promise<Deployment | undefined>;
  /** Takes a function offline (its files stay); false when it was not live. */
  remove(slug: string): Promise<boolean>;
}

/**
 * Opens the store of an environment (nothing is read until asked).
 *
 * @param deployDir the environment's `deployDir`
 * @example
 * ```ts
 * const store = createFunctionStore(localEnv("development").deployDir);
 * const staged = await store.stage("ops", meta, files);
 * await store.activate("ops", staged.version);
 * ```
 */
export function createFunctionStore(deployDir: string): FunctionStore {
  const registryFile = join(deployDir, "registry.json");
  // Writes of the registry and version numbers happen one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };
  const readRegistry = () => readJson<Record<string, Deployment>>(registryFile, {});

  async function versions(slug: string): Promise<number[]> {
    const found: number[] = [];
    try {
      for await (const e of Deno.readDir(join(deployDir, slug))) {
        if (e.isDirectory && /^\d+$/.test(e.name)) found.push(Number(e.name));
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return found.sort((a, b) => a - b);
  }

  return {
    async stage(slug, meta, files) {
      const paths = files.map((f) => checkUploadPath(f.path));
      const entry = checkUploadPath(posix.normalize(meta.entrypoint_path));
      if (!paths.includes(entry)) {
        throw new Error(`Cannot deploy ${slug}: the entrypoint ${entry} was not uploaded`);
      }
      const importMap = meta.import_map_path ? posix.normalize(meta.import_map_path) : null;
      if (importMap !== null && !paths.includes(checkUploadPath(importMap))) {
        throw new Error(`Cannot deploy ${slug}: the import map ${importMap} was not uploaded`);
      }
      return await serial(async () => {
        const previous = (await readRegistry())[slug];
        const version = ((await versions(slug)).at(-1) ?? 0) + 1;
        const root = join(deployDir, slug, String(version));
        const hashed: Deployment["files"] = [];
        for (const file of files) {
          const target = join(root, "files", file.path);
          await Deno.mkdir(dirname(target), { recursive: true });
          await Deno.writeFile(target, file.bytes);
          hashed.push({ path: file.path, sha256: await sha256Hex(file.bytes) });
        }
        const now = Date.now();
        const deployment: Deployment = {
          id: previous?.id ?? crypto.randomUUID(),
          slug,
          name: meta.name ?? slug,
          version,
          entrypoint_path: entry,
          import_map_path: importMap,
          verify_jwt: meta.verify_jwt ?? true,
          files: hashed,
          created_at: previous?.created_at ?? now,
          updated_at: now,
        };
        await writeJsonAtomic(join(root, "deployment.json"), deployment);
        return deployment;
      });
    },
    activate(slug, version) {
      return serial(async () => {
        const deployment = await readJson<Deployment | null>(
          join(deployDir, slug, String(version), "deployment.json"),
          null,
        );
        if (!deployment) return undefined;
        const registry = await readRegistry();
        registry[slug] = deployment;
        await writeJsonAtomic(registryFile, registry);
        return deployment;
      });
    },
    async list() {
      return Object.values(await readRegistry()).sort((a, b) => a.slug < b.slug ? -1 : 1);
    },
    async get(slug) {
      return (await readRegistry())[slug];
    },
    remove(slug) {
      return serial(async () => {
        const registry = await readRegistry();
        if (!registry[slug]) return false;
        delete registry[slug];
        await writeJsonAtomic(registryFile, registry);
        return true;
      });
    },
  };
}

/**
 * The live functions of an environment, with the absolute paths a process needs.
 *
 * @param deployDir the environment's `deployDir`
 * @example
 * ```ts
 * for (const fn of await liveFunctions(env.deployDir)) console.log(fn.slug, fn.entry);
 * ```
 */
export async function liveFunctions(deployDir: string): Promise<LiveFunction[]> {
  const deployments = await createFunctionStore(deployDir).list();
  return deployments.map((d) => {
    const dir = join(deployDir, d.slug, String(d.version), "files");
    return {
      slug: d.slug,
      version: d.version,
      verifyJwt: d.verify_jwt,
      dir,
      entry: join(dir, d.entrypoint_path),
      importMap: d.import_map_path === null ? null : join(dir, d.import_map_path),
    };
  });
}
