/**
 * `npm test`: every check, against a throwaway local stack of its own.
 *
 * 1. `deno fmt --check`, `deno lint`, `deno check` (no stack needed);
 * 2. a fresh stack in a temporary folder on ports shifted by 1000 (55321…55343), so it
 *    neither needs nor disturbs the one `npm start` runs (by 1100, 1200, … when one of those
 *    ports is held, e.g. as the local port of some program's outgoing connection);
 * 3. pgTAP (`supabase/tests/database`) through `pg_prove`, against development;
 * 4. Deno tests (unit tests beside the code, integration tests and the workflow tests in
 *    `tests/`, the status page in `web/`, the console in `console/` — its browser test in
 *    `tests/` drives Debian's Chromium);
 * 5. the stack is stopped and its folder removed, whatever happened.
 *
 * Every step runs even when an earlier one failed; the exit code says whether all passed.
 *
 * @module
 */
import { join } from "node:path";
import { freePortOffset, localEnv, REPO_ROOT, type StackOptions } from "./local/config.ts";
import { startStack, stopStack } from "./local/stack.ts";

const deno = Deno.execPath();
const results: { step: string; ok: boolean; seconds: number }[] = [];

async function step(name: string, fn: () => Promise<boolean>): Promise<boolean> {
  console.log(`\n=== ${name}`);
  const t0 = performance.now();
  let ok = false;
  try {
    ok = await fn();
  } catch (err) {
    console.error(`${name}: ${(err as Error).message}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  results.push({ step: name, ok, seconds });
  console.log(`=== ${name}: ${ok ? "ok" : "FAILED"} (${seconds.toFixed(1)} s)`);
  return ok;
}

/** Runs a command with inherited output; true when it exits 0. */
async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<boolean> {
  const { code } = await new Deno.Command(cmd, {
    args,
    cwd: REPO_ROOT,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code === 0;
}

async function sqlFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(join(REPO_ROOT, dir))) {
    if (e.isFile && e.name.endsWith(".test.sql")) files.push(join(dir, e.name));
  }
  return files.sort();
}

/**
 * The throwaway stack's port offset: `STAGECOACH_TEST_PORT_OFFSET` when set (its ports must be
 * free), else the first of +1000, +1100, … (+1500 and up are the benchmarks') whose ports are
 * all free — a long-lived outgoing connection may hold one of them as its local port.
 */
function testPortOffset(): number {
  return freePortOffset({
    variable: "STAGECOACH_TEST_PORT_OFFSET",
    candidates: [1000, 1100, 1200, 1300, 1400, 1600, 1700, 1800, 1900],
    log: (line) => console.log(`stack: ${line}`),
  });
}

async function main(): Promise<number> {
  await step("deno fmt --check", () => sh(deno, ["fmt", "--check"]));
  await step("deno lint", () => sh(deno, ["lint"]));
  await step("deno check", () => sh(deno, ["task", "-q", "check"]));

  const offset = testPortOffset();
  const opts: StackOptions = {
    home: await Deno.makeTempDir({ prefix: "stagecoach-test-" }),
    portOffset: offset,
  };
  const stackEnv = { STAGECOACH_HOME: opts.home, STAGECOACH_PORT_OFFSET: String(offset) };
  const log = (line: string) => console.log(`stack: ${line}`);
  try {
    const up = await step(
      `throwaway stack in ${opts.home} (ports +${offset})`,
      async () => {
        await startStack(opts, log);
        return true;
      },
    );
    if (up) {
      const dev = localEnv("development", opts);
      await step("pgTAP (pg_prove)", async () => {
        // Each test file installs pgTAP inside its own transaction (into `extensions`, as
        // Supabase does) and rolls it back, so `supabase db lint` never sees its functions.
        const files = await sqlFiles("supabase/tests/database");
        return await sh("pg_prove", [
          "-h",
          "127.0.0.1",
          "-p",
          String(dev.dbPort),
          "-U",
          "postgres",
          "-d",
          "postgres",
          "--failures",
          ...files,
        ], { PGPASSWORD: "postgres" });
      });
      await step("deno test", () =>
        sh(deno, [
          "test",
          "-A",
          "--no-prompt",
          "scripts/",
          "supabase/functions/",
          "tests/",
          "web/",
          "console/",
        ], stackEnv));
    }
  } finally {
    await step("stop and remove the throwaway stack", async () => {
      await stopStack(opts, log);
      await Deno.remove(opts.home, { recursive: true });
      return true;
    });
  }

  console.log("\nsummary");
  for (const r of results) {
    console.log(`  ${r.ok ? "ok    " : "FAILED"} ${r.step} (${r.seconds.toFixed(1)} s)`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main());
}
