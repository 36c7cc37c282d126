/**
 * Running commands for the local stack: as the `postgres` user when we are root (Postgres
 * refuses to run as root), in the background with a pid file, and stopping them again.
 *
 * @module
 */

/** True when this process runs as root. */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** The result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and returns its output.
 *
 * @param opts.asPostgres run as the `postgres` OS user when we are root
 * @param opts.check throw when the exit code is not 0 (default true)
 * @throws {Error} naming the command and its stderr when it fails and `check` is on
 */
export async function run(
  cmd: string,
  args: string[],
  opts: { asPostgres?: boolean; check?: boolean; cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const [bin, argv] = opts.asPostgres && isRoot()
    ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
    : [cmd, args];
  const out = await new Deno.Command(bin, {
    args: argv,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if ((opts.check ?? true) && result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-15).join("\n");
    throw new Error(`Cannot run ${cmd} ${args.join(" ")}: exit ${result.code}\n${detail}`);
  }
  return result;
}

/**
 * Starts a long-running command detached from this process (its own process group), with
 * stdout and stderr appended to `logFile`, and records its pid in `pidFile`.
 */
export async function spawnDetached(
  cmd: string,
  args: string[],
  opts: { logFile: string; pidFile: string; cwd?: string; env?: Record<string, string> },
): Promise<number> {
  // `exec` makes the pid we record the command's own, not the shell's.
  const child = new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", opts.logFile, cmd, ...args],
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  await Deno.writeTextFile(opts.pidFile, `${child.pid}\n`);
  return child.pid;
}

/** Reads a pid file and returns the pid when that process is alive, else null. */
export async function livePid(pidFile: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim());
  } catch {
    return null;
  }
  return pidAlive(pid) ? pid : null;
}

/** Whether a process with this pid runs (a pid file's first line; postgres's has more lines). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    Deno.kill(pid, "SIGCONT"); // signal 0 is not offered; SIGCONT is harmless to a running process
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the process group recorded in `pidFile` (SIGTERM, then SIGKILL after `graceMs`) and
 * removes the pid file. Does nothing when the process is already gone.
 */
export async function stopDetached(pidFile: string, graceMs = 5000): Promise<void> {
  const pid = await livePid(pidFile);
  if (pid !== null) {
    signalGroup(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && await livePid(pidFile) !== null) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (await livePid(pidFile) !== null) signalGroup(pid, "SIGKILL");
  }
  await Deno.remove(pidFile).catch(() => {});
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal); // the whole group: the gateway and the functions it spawned
  } catch {
    try {
      Deno.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Waits until `probe` resolves true, polling every `intervalMs`, or throws after `timeoutMs`,
 * naming the last line of the process's `logFile` (e.g. `Address already in use`) when given.
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; logFile?: string } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 150));
  }
  const last = opts.logFile
    ? (await Deno.readTextFile(opts.logFile).catch(() => "")).trim().split("\n").at(-1)
    : undefined;
  throw new Error(
    `Cannot start ${what}: not ready after ${opts.timeoutMs ?? 30_000} ms${
      last ? ` (last log line of ${opts.logFile}: ${last})` : ""
    }`,
  );
}

/**
 * Starts one of the stack's Deno scripts as a daemon unless its pid file names a live process:
 * `deno run -A --no-prompt <script>` from the repository root, with the stack's
 * `STAGECOACH_HOME` and `STAGECOACH_PORT_OFFSET`.
 *
 * @returns whether it was started (false: it was running)
 */
export async function ensureStackDaemon(
  script: string,
  opts: { logFile: string; pidFile: string; cwd: string; home: string; portOffset: number },
): Promise<boolean> {
  if (await livePid(opts.pidFile) !== null) return false;
  await spawnDetached(Deno.execPath(), ["run", "-A", "--no-prompt", script], {
    logFile: opts.logFile,
    pidFile: opts.pidFile,
    cwd: opts.cwd,
    env: {
      ...Deno.env.toObject(),
      STAGECOACH_HOME: opts.home,
      STAGECOACH_PORT_OFFSET: String(opts.portOffset),
    },
  });
  return true;
}
