/**
 * `backup create` + `backup verify` beside plain `pg_dump -Fc` + `pg_restore` into an empty
 * database, in the same run on the same server: the bench stack's development database is
 * grown to about 250,000 and then about 1,000,000 rows (users with an identity, a profile and
 * a membership each: `users_copy_bench.ts` `generate`), and at each size
 *
 * - **baseline**: `pg_dump -Fc` of the whole database to a file, `createdb`, `pg_restore` into
 *   it (roles exist on the server; the errors it reports for server-wide extensions, pg_cron,
 *   are counted and ignored);
 * - **ours**: `createBackup` then `verifyBackup` (decrypt and check every file, restore into a
 *   scratch database, compare content hashes), run in a child process whose peak RSS (`VmHWM`)
 *   is read at its end.
 *
 * Printed: both times, their ratio (goal ≤ 1.5×) and our peak RSS at both sizes (memory flat:
 * chunks stream). `STAGECOACH_BENCH_BACKUP_ROWS` sets the larger size (default 1,000,000).
 *
 * @module
 */
import postgres from "postgres";
import { join } from "node:path";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { createBackup } from "../scripts/backup/create.ts";
import { verifyBackup } from "../scripts/backup/verify.ts";
import { pgEnv } from "../scripts/backup/pg.ts";
import { generate } from "./users_copy_bench.ts";
import type { BenchContext } from "./run.ts";

const KEY = "bench-backup-key-0123456789abcdef";
const BIN = "/usr/lib/postgresql/15/bin";

/** The child: one create + verify, timings and peak RSS as one JSON line. */
async function child(dbUrl: string, dir: string): Promise<void> {
  const t0 = performance.now();
  const made = await createBackup({
    environment: "development",
    dbUrl,
    key: KEY,
    root: dir,
    out: join(dir, "ours"),
    gitSha: null,
  });
  const t1 = performance.now();
  const verified = await verifyBackup({ dir: made.dir, key: KEY, dbUrl });
  const t2 = performance.now();
  if (!verified.ok) throw new Error(`verify failed: ${verified.problem?.message}`);
  const status = await Deno.readTextFile("/proc/self/status");
  const hwmKb = Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? 0);
  const size = made.manifest.files.reduce((n, f) => n + f.size, 0);
  console.log(JSON.stringify({
    createS: (t1 - t0) / 1000,
    verifyS: (t2 - t1) / 1000,
    peakMb: hwmKb / 1024,
    rows: made.manifest.tables.reduce((n, t) => n + t.rows, 0),
    sizeMb: size / (1 << 20),
  }));
}

async function runQuiet(cmd: string, args: string[], env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  return new TextDecoder().decode(out.stderr);
}

async function baseline(dbUrl: string, dir: string): Promise<{ dumpS: number; restoreS: number }> {
  const env = pgEnv(dbUrl);
  const file = join(dir, "baseline.dump");
  const t0 = performance.now();
  await runQuiet(`${BIN}/pg_dump`, ["-Fc", "-f", file], env);
  const t1 = performance.now();
  await runQuiet(`${BIN}/createdb`, ["stagecoach_bench_restore"], env);
  const errors = await runQuiet(`${BIN}/pg_restore`, ["-d", "stagecoach_bench_restore", file], env);
  const t2 = performance.now();
  await runQuiet(`${BIN}/dropdb`, ["--force", "stagecoach_bench_restore"], env);
  const n = (errors.match(/error:/g) ?? []).length;
  if (n) console.log(`backup: baseline pg_restore reported ${n} errors (server-wide extensions)`);
  return { dumpS: (t1 - t0) / 1000, restoreS: (t2 - t1) / 1000 };
}

async function measure(dbUrl: string, label: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "stagecoach-backup-bench-" });
  try {
    const base = await baseline(dbUrl, dir);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO_ROOT, "bench/backup_bench.ts"), "--child", dbUrl, dir],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("backup bench child failed");
    const ours = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    const baseS = base.dumpS + base.restoreS;
    const oursS = ours.createS + ours.verifyS;
    console.log(
      `backup: ${label}: ${ours.rows.toLocaleString("en-US")} rows, ${
        ours.sizeMb.toFixed(0)
      } MiB encrypted`,
    );
    console.log(
      `backup:   baseline pg_dump -Fc ${base.dumpS.toFixed(1)} s + pg_restore ${
        base.restoreS.toFixed(1)
      } s = ${baseS.toFixed(1)} s`,
    );
    console.log(
      `backup:   ours     create ${ours.createS.toFixed(1)} s + verify ${
        ours.verifyS.toFixed(1)
      } s = ${oursS.toFixed(1)} s  → ${(oursS / baseS).toFixed(2)}× (goal ≤ 1.5×), peak RSS ${
        ours.peakMb.toFixed(0)
      } MB`,
    );
    return ours.peakMb;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function reset(dbUrl: string): Promise<void> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(
      "truncate auth.users, auth.identities, public.profiles, public.memberships cascade",
    );
  } finally {
    await sql.end();
  }
}

/** The benchmark (see the module comment). */
export async function run(ctx: BenchContext): Promise<void> {
  const dbUrl = localEnv("development", ctx.stack).dbUrl;
  const large = Number(Deno.env.get("STAGECOACH_BENCH_BACKUP_ROWS") ?? "1000000");
  const peaks: number[] = [];
  for (const rows of [Math.round(large / 4), large]) {
    await reset(dbUrl);
    const t0 = performance.now();
    const total = await generate(dbUrl, Math.round(rows / 4));
    console.log(
      `backup: grew development to ${total.toLocaleString("en-US")} user rows in ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s`,
    );
    peaks.push(await measure(dbUrl, `${total.toLocaleString("en-US")} user rows`));
  }
  console.log(
    `backup: peak RSS ${peaks.map((p) => `${p.toFixed(0)} MB`).join(" → ")} (${
      (peaks[1] / peaks[0]).toFixed(2)
    }× for 4× the rows)`,
  );
}

if (import.meta.main && Deno.args[0] === "--child") await child(Deno.args[1], Deno.args[2]);
