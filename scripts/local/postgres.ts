/**
 * One Postgres 15 cluster per local environment: create, configure, start, stop, apply SQL.
 *
 * Clusters live in `<home>/<env>/pgdata`, listen on 127.0.0.1:<dbPort> and on a unix socket
 * in `<home>/<env>/run`, preload pg_cron, and use password auth over TCP (user `postgres`,
 * password `postgres`, as Supabase local). When we run as root the server runs as the
 * `postgres` OS user, since Postgres refuses to run as root.
 *
 * @module
 */
import { join } from "node:path";
import type { LocalEnv } from "./config.ts";
import { isRoot, run } from "./process.ts";

const PG_BIN = Deno.env.get("STAGECOACH_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

/** The settings each cluster runs with, appended to its postgresql.conf. */
function clusterSettings(env: LocalEnv): string {
  return [
    "# Stagecoach local stack",
    `port = ${env.dbPort}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${env.runDir}'`,
    "shared_preload_libraries = 'pg_cron'",
    "cron.database_name = 'postgres'",
    // Jobs run in background workers, so pg_cron needs no password to connect back.
    "cron.use_background_workers = on",
    "max_worker_processes = 32",
    "max_connections = 200",
    // A local stack may lose its last transactions on a machine crash, never its consistency.
    "synchronous_commit = off",
    "log_min_messages = warning",
    "log_line_prefix = '%m [%p] %q%u@%d '",
    "",
  ].join("\n");
}

/** True when the data directory has been initialised. */
export async function clusterExists(env: LocalEnv): Promise<boolean> {
  try {
    await Deno.stat(join(env.pgdata, "PG_VERSION"));
    return true;
  } catch {
    return false;
  }
}

/** True when the cluster's postmaster is running (pg_ctl status). */
export async function clusterRunning(env: LocalEnv): Promise<boolean> {
  if (!(await clusterExists(env))) return false;
  const { code } = await run(`${PG_BIN}/pg_ctl`, ["status", "-D", env.pgdata], {
    asPostgres: true,
    check: false,
  });
  return code === 0;
}

async function ensureDir(path: string, ownedByPostgres: boolean): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  if (ownedByPostgres && isRoot()) {
    await run("chown", ["-R", "postgres:postgres", path]);
  }
}

/**
 * Creates the data directory (initdb), writes the settings and the Vault stand-in's root
 * key. Does nothing when the cluster exists already.
 */
export async function initCluster(env: LocalEnv): Promise<boolean> {
  if (await clusterExists(env)) return false;
  // The postgres user must be able to walk down to its folders (mktemp makes 0700 folders).
  await Deno.mkdir(env.dir, { recursive: true });
  if (isRoot()) {
    for (let dir = env.dir; dir !== "/" && dir !== "."; dir = join(dir, "..")) {
      const info = await Deno.stat(dir);
      if (((info.mode ?? 0) & 0o001) === 0) await Deno.chmod(dir, (info.mode ?? 0o700) | 0o711);
    }
  }
  await ensureDir(env.runDir, true);
  await ensureDir(env.logDir, true);
  await ensureDir(env.pgdata, true);
  const pwfile = join(env.runDir, "pwfile");
  await Deno.writeTextFile(pwfile, "postgres\n");
  if (isRoot()) await run("chown", ["postgres:postgres", pwfile]);
  await run(`${PG_BIN}/initdb`, [
    "-D",
    env.pgdata,
    "-U",
    "postgres",
    `--pwfile=${pwfile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ], { asPostgres: true });
  await Deno.remove(pwfile);
  const conf = join(env.pgdata, "postgresql.conf");
  await Deno.writeTextFile(conf, clusterSettings(env), { append: true });
  const rootKey = Array.from(crypto.getRandomValues(new Uint8Array(32)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const keyFile = join(env.pgdata, "vault.key");
  await Deno.writeTextFile(keyFile, `${rootKey}\n`, { mode: 0o600 });
  if (isRoot()) await run("chown", ["postgres:postgres", keyFile]);
  return true;
}

/** Starts the cluster and waits until it accepts connections. */
export async function startCluster(env: LocalEnv): Promise<void> {
  if (await clusterRunning(env)) return;
  await run(`${PG_BIN}/pg_ctl`, [
    "start",
    "-D",
    env.pgdata,
    "-l",
    join(env.logDir, "postgres.log"),
    "-w",
    "-t",
    "60",
  ], { asPostgres: true });
}

/** Stops the cluster (fast shutdown); does nothing when it is not running. */
export async function stopCluster(env: LocalEnv): Promise<void> {
  if (!(await clusterRunning(env))) return;
  await run(`${PG_BIN}/pg_ctl`, ["stop", "-D", env.pgdata, "-m", "fast", "-w", "-t", "60"], {
    asPostgres: true,
  });
}

/**
 * Runs SQL files with psql over the cluster's socket as `postgres`, stopping at the first
 * error (which names the file and line).
 */
export async function psqlFiles(env: LocalEnv, files: string[]): Promise<void> {
  for (const file of files) {
    await run("psql", [
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      env.runDir,
      "-p",
      String(env.dbPort),
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-f",
      file,
    ], { env: { PGOPTIONS: "-c client_min_messages=warning" } });
  }
}
