/**
 * The gateway's function processes: one `function_host.ts` child per Edge Function, started
 * eagerly, restarted on the next request after it exits, its output passed on line by line
 * with the function's name in front.
 *
 * A function runs as on Supabase, from its own files only: `deno run --no-config --no-lock`
 * (no `deno.json`, `package.json` or lock file of any folder above it applies), with the import
 * map it was deployed with, if any, in its own working directory. {@link FunctionPool.replace}
 * swaps in new versions (a deploy): a changed function gets a new process, and the old one
 * stops after a short grace for the requests it is answering.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { LISTENING_PREFIX } from "./function_host.ts";

const FUNCTION_HOST = fileURLToPath(new URL("./function_host.ts", import.meta.url));

/** A function to run. */
export interface PoolFunction {
  name: string;
  /** Absolute path of its entrypoint. */
  entry: string;
  /** Absolute path of its import map (`--import-map`); none when absent or null. */
  importMap?: string | null;
  /** Its working directory; default the pool's `cwd`. */
  cwd?: string;
}

/** Options of {@link createFunctionPool}. */
export interface FunctionPoolOptions {
  /** The complete environment of every child process. */
  env: Record<string, string>;
  /** Working directory of the children that name none of their own. */
  cwd: string;
  /** How long a replaced process may finish its requests before SIGTERM; default 2 s. */
  retireGraceMs?: number;
  /** How long a function may take to print `LISTENING <port>`; default 60 s. */
  bootTimeoutMs?: number;
  /** Receives each output line; default prints `[<name>] <line>` to stdout or stderr. */
  log?: (name: string, stream: "stdout" | "stderr", line: string) => void;
}

/** Running function processes, by name. */
export interface FunctionPool {
  /** Base URL of a running function, (re)starting it when it is not running. */
  resolve(name: string): Promise<string>;
  /** Starts every function and waits until each listens or fails (failures are logged). */
  startAll(): Promise<void>;
  /** Stops every child (SIGTERM, then SIGKILL after 5 s) and waits for them to exit. */
  stop(): Promise<void>;
  /**
   * Serves these functions from now on, with this environment: new or changed ones (entry,
   * import map, working directory, or the environment) start at once in new processes, the
   * replaced and removed ones are retired.
   */
  replace(functions: PoolFunction[], env: Record<string, string>): void;
}

interface Slot {
  fn: PoolFunction;
  child?: Deno.ChildProcess;
  ready?: Promise<string>;
  running: boolean;
  /** Replaced by a newer slot: its exit is expected. */
  retired?: boolean;
}

function sameFunction(a: PoolFunction, b: PoolFunction): boolean {
  return a.entry === b.entry && (a.importMap ?? null) === (b.importMap ?? null) &&
    a.cwd === b.cwd;
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * Creates the pool of function processes (nothing starts until asked).
 *
 * @param functions the functions to run
 * @param opts the children's environment and working directory
 * @returns the pool
 * @example
 * ```ts
 * const pool = createFunctionPool(specs, { env: childEnv, cwd: REPO_ROOT });
 * await pool.startAll();
 * const base = await pool.resolve("ops"); // "http://127.0.0.1:40123"
 * ```
 */
export function createFunctionPool(
  functions: PoolFunction[],
  opts: FunctionPoolOptions,
): FunctionPool {
  const slots = new Map<string, Slot>(
    functions.map((fn) => [fn.name, { fn, running: false }]),
  );
  const log = opts.log ?? defaultLog;
  const bootTimeoutMs = opts.bootTimeoutMs ?? 60_000;
  const retireGraceMs = opts.retireGraceMs ?? 2_000;
  let env = opts.env;
  let stopping = false;

  function spawn(slot: Slot): Promise<string> {
    const { name, entry, importMap } = slot.fn;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-prompt",
        "--no-config",
        "--no-lock",
        ...(importMap ? ["--import-map", importMap] : []),
        FUNCTION_HOST,
        entry,
      ],
      cwd: slot.fn.cwd ?? opts.cwd,
      // No package.json above a function's folder applies either (Supabase has none).
      env: { ...env, DENO_NO_PACKAGE_JSON: "1" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    slot.child = child;
    slot.running = true;

    let listening: (base: string) => void = () => {};
    let failed: (err: Error) => void = () => {};
    const ready = new Promise<string>((resolve, reject) => {
      listening = resolve;
      failed = reject;
    });
    // A boot failure is reported to whoever asks; keep an unobserved one from crashing us.
    ready.catch(() => {});
    const timer = setTimeout(() => {
      failed(new Error(`it did not print "${LISTENING_PREFIX}<port>" within ${bootTimeoutMs} ms`));
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, bootTimeoutMs);

    let announced = false;
    const stdout = pipeLines(child.stdout, (line) => {
      if (!announced && line.startsWith(LISTENING_PREFIX)) {
        announced = true;
        clearTimeout(timer);
        listening(`http://127.0.0.1:${Number(line.slice(LISTENING_PREFIX.length))}`);
        log(name, "stdout", `listening on 127.0.0.1:${line.slice(LISTENING_PREFIX.length)}`);
        return;
      }
      log(name, "stdout", line);
    });
    const stderr = pipeLines(child.stderr, (line) => log(name, "stderr", line));
    child.status.then(async (status) => {
      await Promise.allSettled([stdout, stderr]);
      clearTimeout(timer);
      if (slot.child === child) slot.running = false;
      failed(new Error(`it exited with code ${status.code} before listening`));
      if (!stopping && !slot.retired) {
        log(name, "stderr", `exited with code ${status.code}; restarts on next request`);
      }
    });
    slot.ready = ready;
    return ready;
  }

  function slotOf(name: string): Slot {
    const slot = slots.get(name);
    if (!slot) throw new Error(`Cannot start function "${name}": it is not in the pool`);
    return slot;
  }

  function retire(slot: Slot): void {
    slot.retired = true;
    const child = slot.child;
    if (!child || !slot.running) return;
    setTimeout(() => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }, retireGraceMs);
  }

  return {
    replace(functions: PoolFunction[], nextEnv: Record<string, string>): void {
      const envChanged = !sameEnv(env, nextEnv);
      env = nextEnv;
      const wanted = new Map(functions.map((fn) => [fn.name, fn]));
      for (const [name, slot] of slots) {
        if (!wanted.has(name)) {
          retire(slot);
          slots.delete(name);
        }
      }
      for (const fn of functions) {
        const current = slots.get(fn.name);
        if (current && !envChanged && sameFunction(current.fn, fn)) continue;
        if (current) retire(current);
        const slot: Slot = { fn, running: false };
        slots.set(fn.name, slot);
        if (!stopping) spawn(slot).catch(() => {});
      }
    },
    resolve(name: string): Promise<string> {
      if (stopping) {
        return Promise.reject(new Error("Cannot start a function: the gateway is stopping"));
      }
      const slot = slotOf(name);
      if (slot.running && slot.ready) return slot.ready;
      return spawn(slot);
    },
    async startAll(): Promise<void> {
      await Promise.all([...slots.values()].map(async (slot) => {
        try {
          await (slot.running && slot.ready ? slot.ready : spawn(slot));
        } catch (err) {
          log(slot.fn.name, "stderr", `Cannot start function: ${(err as Error).message}`);
        }
      }));
    },
    async stop(): Promise<void> {
      stopping = true;
      await Promise.all([...slots.values()].map(async (slot) => {
        const child = slot.child;
        if (!child || !slot.running) return;
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const killer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }, 5_000);
        await child.status;
        clearTimeout(killer);
      }));
    },
  };
}

async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  // Typed as what it is here: with the DOM library in the program (the console's Preact types
  // bring it), TextDecoderStream's writable side is typed for any BufferSource.
  const decoder = new TextDecoderStream() as TransformStream<Uint8Array, string>;
  for await (const chunk of stream.pipeThrough(decoder)) {
    rest += chunk;
    let nl = rest.indexOf("\n");
    while (nl !== -1) {
      onLine(rest.slice(0, nl).replace(/\r$/, ""));
      rest = rest.slice(nl + 1);
      nl = rest.indexOf("\n");
    }
  }
  if (rest !== "") onLine(rest);
}

function defaultLog(name: string, stream: "stdout" | "stderr", line: string): void {
  if (stream === "stdout") console.log(`[${name}] ${line}`);
  else console.error(`[${name}] ${line}`);
}
