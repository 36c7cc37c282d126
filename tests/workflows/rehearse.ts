/**
 * The rehearsal harness: runs one job of a workflow on this machine the way a GitHub runner
 * would, so the release workflows are exercised against the local stack before they ever
 * reach GitHub.
 *
 * What it models (and nothing else: anything beyond fails loudly):
 * - the workflow is first validated by GitHub's parser (`workflow_file.ts`);
 * - the job's `if:` (skipped jobs return `skipped`), workflow and job `env:`, `defaults.run`,
 *   `timeout-minutes`; job `outputs:` evaluated after the steps;
 * - steps in order: `if:` (implicitly `success() && …`; it sees workflow, job and
 *   `$GITHUB_ENV` variables, not the step's own `env:`), step `env:` over job `env:` over
 *   workflow `env:` over `$GITHUB_ENV` in the process, `continue-on-error`, `timeout-minutes`,
 *   `working-directory`; a failed step skips the following ones unless their `if:` says
 *   `always()` / `failure()`;
 * - `run:` with `shell:` `bash` (`bash --noprofile --norc -eo pipefail {0}`), unset
 *   (`bash -e {0}`) or `sh` (`sh -e {0}`), written to a script file as the runner does;
 * - `${{ … }}` through GitHub's expression library, restricted to the references listed in
 *   `expressions.ts`;
 * - the file commands `$GITHUB_OUTPUT`, `$GITHUB_ENV`, `$GITHUB_PATH` (fresh files per step,
 *   read after it, `name<<DELIMITER` included) and `$GITHUB_STEP_SUMMARY` (collected into
 *   the job's summary); the runner's default variables (`CI`, `GITHUB_SHA`,
 *   `GITHUB_EVENT_PATH`, `RUNNER_TEMP`, …);
 * - every `uses:` replaced by its local equivalent from {@link LOCAL_ACTIONS}, the one table
 *   of them; an action (or a version) missing from it fails the rehearsal, and so does an
 *   input the action does not declare.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  evaluateCondition,
  type ExpressionContext,
  ExpressionRefusedError,
  interpolate,
} from "./expressions.ts";
import { parseKeyValueFile, parsePathFile } from "./file_commands.ts";
import { readAppSpec, type SpecReference, validateAppSpec } from "./do_app_spec.ts";
import {
  readWorkflow,
  type Workflow,
  type WorkflowJob,
  type WorkflowStep,
} from "./workflow_file.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What the rehearsal of one job is given. */
export interface RehearsalOptions {
  /** The workflow file, e.g. `.github/workflows/release-staging.yml` (relative to `cwd`). */
  workflow: string;
  /** The job id, e.g. `release`. */
  job: string;
  /** The triggering event: `github.event_name` and `github.event` (default `push`, `{}`). */
  event?: { name: string; payload?: Record<string, unknown> };
  /** `secrets.*`; an absent secret is empty, as on GitHub. */
  secrets?: Record<string, string>;
  /** `vars.*` (configuration variables); an absent one is empty. */
  vars?: Record<string, string>;
  /** `inputs.*` of a `workflow_dispatch`; declared defaults fill the rest. */
  inputs?: Record<string, string | number | boolean>;
  /** Results of the jobs this one `needs` (from earlier rehearsals). */
  needs?: Record<string, { outputs?: Record<string, string>; result?: string }>;
  /** `github.*` values; `sha` defaults to the checkout's HEAD, `ref` to `refs/heads/main`. */
  github?: Partial<Record<"sha" | "ref" | "repository" | "run_id", string>>;
  /** The checkout the job runs in (default: this repository). */
  cwd?: string;
  /**
   * The runner's own environment (`PATH`, `HOME`, …). Default: `PATH`, `HOME`, `USER`,
   * `LANG`, `TMPDIR`, `DENO_DIR` and `XDG_CACHE_HOME` of this process, so nothing else of the
   * test's environment (e.g. its stack's settings) leaks into the job.
   */
  hostEnv?: Record<string, string>;
  /** Called with each chunk a step prints (stdout and stderr), for progress. */
  log?: (text: string) => void;
}

/** One step's record. */
export interface StepRecord {
  /** The step's `id`, if it has one. */
  id?: string;
  /** Its `name`, else its `run:` first line or `uses:`. */
  name: string;
  /** `success`, `failure` (before `continue-on-error`) or `skipped`. */
  outcome: "success" | "failure" | "skipped";
  /** The outcome after `continue-on-error`. */
  conclusion: "success" | "failure" | "skipped";
  /** A `run:` step's exit code; null for skipped and `uses:` steps. */
  exitCode: number | null;
  /** What it wrote to `$GITHUB_OUTPUT` (or a local action set). */
  outputs: Record<string, string>;
  /** What it printed. */
  stdout: string;
  stderr: string;
  /** Why a step failed without an exit code (a local action, a file command error). */
  error?: string;
}

/** The rehearsal's result. */
export interface RehearsalResult {
  job: string;
  /** `success`, `failure`, or `skipped` when the job's `if:` is false. */
  result: "success" | "failure" | "skipped";
  /** The job's `outputs:`, evaluated after its steps. */
  outputs: Record<string, string>;
  steps: StepRecord[];
  /** Everything the steps wrote to `$GITHUB_STEP_SUMMARY`, in order. */
  summary: string;
  /** Variables the steps set through `$GITHUB_ENV`. */
  env: Record<string, string>;
  /** Directories the steps added through `$GITHUB_PATH` (searched first: last). */
  path: string[];
  /** The runner's scratch folder (`RUNNER_TEMP`, uploaded artifacts under `artifacts/`). */
  workDir: string;
}

/** What a local action is handed. */
export interface LocalActionContext {
  /** The step's `with:` inputs, interpolated (declared defaults filled in). */
  with: Record<string, string>;
  /** The step's process environment (as a Docker or JavaScript action would see it). */
  env: Record<string, string>;
  /** The checkout. */
  cwd: string;
  /** The runner's scratch folder. */
  workDir: string;
  setOutput(name: string, value: string): void;
  addPath(dir: string): void;
  log(text: string): void;
}

/** A `uses:` replaced by what it amounts to on this machine. */
export interface LocalAction {
  /** What stands in for it, in a few words. */
  does: string;
  /** The inputs the action declares (in its action.yml), with their defaults. */
  inputs: Record<string, string>;
  run(ctx: LocalActionContext): Promise<void>;
}

/**
 * Every `uses:` the workflows may have, pinned to the version they use, and its local
 * equivalent. A `uses:` not in this table fails the rehearsal.
 */
export const LOCAL_ACTIONS: Record<string, LocalAction> = {
  "actions/checkout@v4": {
    does: "nothing: the rehearsal runs in a checkout (with.ref is not switched to)",
    inputs: {
      repository: "",
      ref: "",
      token: "",
      "fetch-depth": "1",
      path: "",
      "persist-credentials": "true",
    },
    run: () => Promise.resolve(),
  },
  "actions/setup-node@v4": {
    does: "nothing: checks that node is on PATH",
    inputs: { "node-version": "", "node-version-file": "", cache: "", "cache-dependency-path": "" },
    run: async (ctx) => {
      await commandOutput("node", ["--version"], ctx.cwd, ctx.env);
    },
  },
  "supabase/setup-cli@v1": {
    does: "puts this machine's pinned supabase (node_modules/.bin, checked to be with.version) " +
      "alone in a tool folder on PATH, as the action installs it before any npm ci",
    inputs: { version: "2.84.2" },
    run: async (ctx) => {
      const cli = join(REPO_ROOT, "node_modules", ".bin", "supabase");
      const version = (await commandOutput(cli, ["--version"], ctx.cwd, ctx.env)).trim();
      if (version !== ctx.with.version) {
        throw new Error(`supabase is ${version} here, the workflow pins ${ctx.with.version}`);
      }
      const tools = join(ctx.workDir, "tool-cache", "supabase", version);
      await Deno.mkdir(tools, { recursive: true });
      await Deno.symlink(cli, join(tools, "supabase")).catch((err) => {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      });
      ctx.addPath(tools);
    },
  },
  "digitalocean/app_action/deploy@v2": {
    does: "expands and validates the app spec as the action would, then builds each static " +
      "site with its build_command and BUILD_TIME envs, as App Platform would",
    inputs: {
      token: "",
      app_spec_location: ".do/app.yaml",
      project_id: "",
      app_name: "",
      print_build_logs: "false",
      print_deploy_logs: "false",
      deploy_pr_preview: "false",
    },
    run: (ctx) => deployAppLocally(ctx),
  },
  "actions/upload-artifact@v4": {
    does: "copies with.path into <workDir>/artifacts/<with.name>/",
    inputs: {
      name: "artifact",
      path: "",
      "if-no-files-found": "warn",
      "retention-days": "0",
      overwrite: "false",
    },
    run: async (ctx) => {
      if (/[*?[\n]/.test(ctx.with.path)) throw new Error("only a single path is modelled");
      const dest = join(ctx.workDir, "artifacts", ctx.with.name);
      await Deno.mkdir(dest, { recursive: true });
      const source = resolve(ctx.cwd, ctx.with.path);
      await commandOutput("cp", ["-R", source, dest], ctx.cwd, ctx.env);
    },
  },
};

/**
 * Rehearses one job of a workflow.
 *
 * @param options the workflow, job, event, secrets, vars, inputs, needs
 * @returns the job's result, outputs, steps, summary and file-command effects
 * @throws {Error} when GitHub's parser refuses the workflow, the job does not exist, or an
 *   expression reads something the rehearsal does not model (a step failing is a result, not
 *   an exception)
 * @example
 * ```ts
 * const plan = await rehearseJob({
 *   workflow: ".github/workflows/release-production.yml",
 *   job: "plan",
 *   event: { name: "push" },
 *   secrets: { STAGECOACH_PRODUCTION_DB_URL: "postgresql://…", … },
 * });
 * plan.result; // "success"
 * plan.outputs.promotion_id; // "…"
 * ```
 */
export async function rehearseJob(options: RehearsalOptions): Promise<RehearsalResult> {
  const cwd = options.cwd ?? REPO_ROOT;
  const workflow = await readWorkflow(resolve(cwd, options.workflow));
  const job = workflow.jobs[options.job];
  if (!job) throw new Error(`Cannot rehearse ${options.workflow}: no job ${options.job}`);
  for (const key of ["strategy", "services", "container", "uses"]) {
    if (key in job) throw new Error(`Cannot rehearse ${options.job}: ${key} is not modelled`);
  }

  const run = await prepareRun(options, workflow, job, cwd);
  const result: RehearsalResult = {
    job: options.job,
    result: "skipped",
    outputs: {},
    steps: [],
    summary: "",
    env: run.githubEnv,
    path: run.paths,
    workDir: run.workDir,
  };
  if (!evaluateCondition(job.if, run.ctx)) return result;

  for (const [i, step] of (job.steps ?? []).entries()) {
    result.steps.push(await runStep(run, step, i));
  }
  result.summary = run.summary;
  result.result = run.ctx.jobStatus === "success" ? "success" : "failure";
  for (const [name, value] of Object.entries(job.outputs ?? {})) {
    result.outputs[name] = interpolate(value, { ...run.ctx, env: {} });
  }
  return result;
}

/** Everything a job's steps share while it runs. */
interface JobRun {
  options: RehearsalOptions;
  workflow: Workflow;
  job: WorkflowJob;
  cwd: string;
  workDir: string;
  /** Workflow `env:` then job `env:`, interpolated. */
  declaredEnv: Record<string, string>;
  /** Runner defaults plus the host's environment. */
  baseEnv: Record<string, string>;
  githubEnv: Record<string, string>;
  paths: string[];
  summary: string;
  ctx: ExpressionContext;
}

async function prepareRun(
  options: RehearsalOptions,
  workflow: Workflow,
  job: WorkflowJob,
  cwd: string,
): Promise<JobRun> {
  const workDir = await Deno.makeTempDir({ prefix: "rehearsal-" });
  await Deno.mkdir(join(workDir, "_temp"), { recursive: true });
  const event = options.event ?? { name: "push", payload: {} };
  const declared = dispatchInputs(workflow);
  for (const name of Object.keys(options.inputs ?? {})) {
    if (!(name in declared)) {
      throw new Error(`Cannot rehearse: the workflow declares no input ${name}`);
    }
  }
  const inputs = event.name === "workflow_dispatch" ? { ...declared, ...options.inputs } : {};
  const sha = options.github?.sha ?? (await commandOutput("git", ["rev-parse", "HEAD"], cwd, {}))
    .trim();
  const ref = options.github?.ref ?? "refs/heads/main";
  const github = {
    sha,
    ref,
    ref_name: ref.replace(/^refs\/(heads|tags)\//, ""),
    event_name: event.name,
    event: event.payload ?? {},
    repository: options.github?.repository ?? "stagecoach/stagecoach",
    run_id: options.github?.run_id ?? "1",
    workflow: workflow.name ?? options.workflow,
    server_url: "https://github.com",
  };
  const needsList = typeof job.needs === "string" ? [job.needs] : job.needs ?? [];
  const needs: ExpressionContext["needs"] = {};
  for (const name of needsList) {
    const given = options.needs?.[name];
    if (!given) {
      throw new Error(`Cannot rehearse ${options.job}: it needs ${name}; pass its result`);
    }
    needs[name] = { outputs: given.outputs ?? {}, result: given.result ?? "success" };
  }
  const ctx: ExpressionContext = {
    secrets: options.secrets ?? {},
    vars: options.vars ?? {},
    env: {},
    inputs,
    declaredInputs: Object.keys(declared),
    github,
    steps: {},
    needs,
    jobStatus: "success",
  };
  const eventPath = join(workDir, "event.json");
  await Deno.writeTextFile(eventPath, JSON.stringify(github.event));
  const baseEnv = {
    ...(options.hostEnv ?? defaultHostEnv()),
    CI: "true",
    GITHUB_ACTIONS: "true",
    GITHUB_WORKFLOW: github.workflow,
    GITHUB_JOB: options.job,
    GITHUB_RUN_ID: github.run_id,
    GITHUB_SHA: sha,
    GITHUB_REF: ref,
    GITHUB_REF_NAME: github.ref_name,
    GITHUB_EVENT_NAME: event.name,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: github.repository,
    GITHUB_SERVER_URL: github.server_url,
    GITHUB_WORKSPACE: cwd,
    RUNNER_OS: "Linux",
    RUNNER_TEMP: join(workDir, "_temp"),
  };
  const declaredEnv = interpolateMap(workflow.env, ctx);
  Object.assign(declaredEnv, interpolateMap(job.env, { ...ctx, env: { ...declaredEnv } }));
  return {
    options,
    workflow,
    job,
    cwd,
    workDir,
    declaredEnv,
    baseEnv,
    githubEnv: {},
    paths: [],
    summary: "",
    ctx,
  };
}

/** The `workflow_dispatch` inputs a workflow declares, with their defaults. */
function dispatchInputs(workflow: Workflow): Record<string, string | boolean | number> {
  const on = workflow.on as Record<string, { inputs?: Record<string, { default?: unknown }> }>;
  const inputs = typeof on === "object" && on?.workflow_dispatch?.inputs;
  const out: Record<string, string | boolean | number> = {};
  for (const [name, spec] of Object.entries(inputs || {})) {
    out[name] = (spec?.default as string | boolean | number | undefined) ?? "";
  }
  return out;
}

async function runStep(run: JobRun, step: WorkflowStep, index: number): Promise<StepRecord> {
  const name = step.name ?? (step.uses ? step.uses : `Run ${step.run?.split("\n")[0]}`);
  const record: StepRecord = {
    id: step.id,
    name,
    outcome: "skipped",
    conclusion: "skipped",
    exitCode: null,
    outputs: {},
    stdout: "",
    stderr: "",
  };
  // The step's `if:` sees workflow, job and $GITHUB_ENV variables, not its own `env:`.
  const envContext = { ...run.declaredEnv, ...run.githubEnv };
  if (evaluateCondition(step.if, { ...run.ctx, env: envContext })) {
    const stepEnv = interpolateMap(step.env, { ...run.ctx, env: envContext });
    const ctx = { ...run.ctx, env: { ...envContext, ...stepEnv } };
    const files = await stepFiles(run, index);
    const processEnv = {
      ...run.baseEnv,
      ...run.githubEnv,
      ...run.declaredEnv,
      ...stepEnv,
      ...files.vars,
      PATH: [...[...run.paths].reverse(), run.baseEnv.PATH ?? ""].join(":"),
    };
    try {
      const stepRun = { run, step, ctx, env: processEnv, record };
      await (step.uses !== undefined ? runLocalAction(stepRun) : runScript(stepRun));
      await readFileCommands(run, files.paths, record);
    } catch (err) {
      if (err instanceof ExpressionRefusedError) throw err; // the rehearsal itself is wrong
      record.error = (err as Error).message;
      if (record.exitCode === null || record.exitCode === 0) record.outcome = "failure";
    }
    const continueOnError = step["continue-on-error"] === true ||
      (typeof step["continue-on-error"] === "string" &&
        interpolate(step["continue-on-error"], ctx) === "true");
    record.conclusion = record.outcome === "failure" && continueOnError
      ? "success"
      : record.outcome;
    if (record.conclusion === "failure") run.ctx.jobStatus = "failure";
  }
  if (step.id) {
    run.ctx.steps[step.id] = {
      outputs: record.outputs,
      outcome: record.outcome,
      conclusion: record.conclusion,
    };
  }
  return record;
}

/** Fresh file-command files for a step, as the runner creates them. */
async function stepFiles(run: JobRun, index: number) {
  const dir = join(run.workDir, "_runner_file_commands", `step_${index}`);
  await Deno.mkdir(dir, { recursive: true });
  const paths = {
    GITHUB_OUTPUT: join(dir, "output"),
    GITHUB_ENV: join(dir, "env"),
    GITHUB_PATH: join(dir, "path"),
    GITHUB_STEP_SUMMARY: join(dir, "summary"),
  };
  for (const path of Object.values(paths)) await Deno.writeTextFile(path, "");
  return { paths, vars: paths as Record<string, string> };
}

async function readFileCommands(
  run: JobRun,
  paths: Record<"GITHUB_OUTPUT" | "GITHUB_ENV" | "GITHUB_PATH" | "GITHUB_STEP_SUMMARY", string>,
  record: StepRecord,
): Promise<void> {
  Object.assign(
    record.outputs,
    parseKeyValueFile(await Deno.readTextFile(paths.GITHUB_OUTPUT), "GITHUB_OUTPUT"),
  );
  Object.assign(
    run.githubEnv,
    parseKeyValueFile(await Deno.readTextFile(paths.GITHUB_ENV), "GITHUB_ENV"),
  );
  run.paths.push(...parsePathFile(await Deno.readTextFile(paths.GITHUB_PATH)));
  const summary = await Deno.readTextFile(paths.GITHUB_STEP_SUMMARY);
  if (summary) run.summary += summary.endsWith("\n") ? summary : `${summary}\n`;
}

/** One step being run: its job, the step, its expression context, process env and record. */
interface StepRun {
  run: JobRun;
  step: WorkflowStep;
  ctx: ExpressionContext;
  env: Record<string, string>;
  record: StepRecord;
}

const SHELLS: Record<string, (script: string) => [string, string[]]> = {
  default: (f) => ["bash", ["-e", f]],
  bash: (f) => ["bash", ["--noprofile", "--norc", "-eo", "pipefail", f]],
  sh: (f) => ["sh", ["-e", f]],
};

async function runScript({ run, step, ctx, env, record }: StepRun): Promise<void> {
  const shellName = step.shell ?? run.job.defaults?.run?.shell ?? run.workflow.defaults?.run?.shell;
  const shell = SHELLS[shellName ?? "default"];
  if (!shell) throw new Error(`Cannot rehearse shell ${shellName}: only bash and sh are modelled`);
  const script = join(run.workDir, "_temp", `${crypto.randomUUID()}.sh`);
  await Deno.writeTextFile(script, interpolate(step.run ?? "", ctx));
  const workingDirectory = step["working-directory"] ??
    run.job.defaults?.run?.["working-directory"] ??
    run.workflow.defaults?.run?.["working-directory"];
  const [cmd, args] = shell(script);
  const minutes = step["timeout-minutes"] ?? run.job["timeout-minutes"] ?? 360;
  const child = new Deno.Command(cmd, {
    args,
    cwd: resolve(run.cwd, workingDirectory ? interpolate(workingDirectory, ctx) : "."),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(minutes * 60_000),
  }).spawn();
  const [stdout, stderr, status] = await Promise.all([
    collect(child.stdout, run.options.log),
    collect(child.stderr, run.options.log),
    child.status,
  ]);
  record.stdout = stdout;
  record.stderr = stderr;
  record.exitCode = status.code;
  record.outcome = status.success ? "success" : "failure";
}

async function runLocalAction({ run, step, ctx, env, record }: StepRun): Promise<void> {
  const action = LOCAL_ACTIONS[step.uses!];
  if (!action) {
    throw new Error(`Cannot rehearse uses: ${step.uses}: it is not in the LOCAL_ACTIONS table`);
  }
  const inputs: Record<string, string> = { ...action.inputs };
  for (const [name, value] of Object.entries(step.with ?? {})) {
    if (!(name in action.inputs)) {
      throw new Error(`Cannot rehearse uses: ${step.uses}: it declares no input ${name}`);
    }
    inputs[name] = interpolate(String(value), ctx);
  }
  const output: string[] = [];
  await action.run({
    with: inputs,
    env,
    cwd: run.cwd,
    workDir: run.workDir,
    setOutput: (name, value) => record.outputs[name] = value,
    addPath: (dir) => run.paths.push(dir),
    log: (text) => {
      output.push(text);
      run.options.log?.(text);
    },
  });
  record.stdout = output.join("");
  record.outcome = "success";
}

/** The local App Platform: the spec as app_action reads it, validated, then built. */
async function deployAppLocally(ctx: LocalActionContext): Promise<void> {
  if (!ctx.with.token) throw new Error("input token is required (DigitalOcean access token)");
  if (ctx.with.app_name) throw new Error("deploying an existing app by name is not modelled");
  const { spec, references } = await readAppSpec(
    resolve(ctx.cwd, ctx.with.app_spec_location),
    ctx.env,
  );
  // Stricter than the action, which silently substitutes "": a spec variable the step does
  // not set is a mistake in the workflow.
  const unset = references.filter((r: SpecReference) => !r.kept && !ctx.env[r.name]);
  if (unset.length) {
    throw new Error(`the app spec uses ${unset.map((r) => r.name).join(", ")}, unset in the step`);
  }
  const problems = validateAppSpec(spec);
  if (problems.length) {
    throw new Error(
      `the app spec is invalid: ${problems.map((p) => `${p.path} ${p.message}`).join("; ")}`,
    );
  }
  const sites = (spec.static_sites ?? []) as Record<string, unknown>[];
  for (const site of sites) {
    const envs = (site.envs ?? []) as { key: string; value?: string; scope?: string }[];
    const buildEnv: Record<string, string> = { PATH: ctx.env.PATH ?? "", HOME: ctx.env.HOME ?? "" };
    for (const e of envs) {
      if ((e.scope ?? "RUN_AND_BUILD_TIME").includes("BUILD_TIME")) buildEnv[e.key] = e.value ?? "";
    }
    const sourceDir = resolve(ctx.cwd, String(site.source_dir ?? "."));
    if (site.build_command) {
      ctx.log(
        await commandOutput("bash", ["-ec", String(site.build_command)], sourceDir, buildEnv),
      );
    }
    const index = join(
      sourceDir,
      String(site.output_dir ?? ""),
      String(site.index_document ?? "index.html"),
    );
    await Deno.stat(index).catch(() => {
      throw new Error(`static site ${site.name}: the build left no ${index}`);
    });
  }
  ctx.setOutput("app", JSON.stringify({ spec }));
}

function interpolateMap(
  map: Record<string, string | number | boolean> | undefined,
  ctx: ExpressionContext,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(map ?? {})) {
    out[name] = interpolate(String(value), ctx);
  }
  return out;
}

/**
 * The part of this process's environment a rehearsal hands the runner by default: `PATH`,
 * `HOME`, `USER`, `LANG`, `TMPDIR`, `DENO_DIR`, `XDG_CACHE_HOME`. Extend it for what a real
 * runner's machine would have, e.g. `{ ...defaultHostEnv(), SUPABASE_PROFILE: file }`.
 *
 * @returns those variables that are set
 */
export function defaultHostEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "USER", "LANG", "TMPDIR", "DENO_DIR", "XDG_CACHE_HOME"];
  const out: Record<string, string> = {};
  for (const name of keep) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  log: ((text: string) => void) | undefined,
): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const piece = decoder.decode(chunk, { stream: true });
    text += piece;
    log?.(piece);
  }
  return text + decoder.decode();
}

/** Runs a command; its stdout, or an error with its stderr. */
async function commandOutput(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd,
    env: Object.keys(env).length ? env : undefined,
    clearEnv: Object.keys(env).length > 0,
    stdin: "null",
  }).output().catch((err: Error) => {
    throw new Error(`Cannot run ${cmd}: ${err.message}`);
  });
  const dec = new TextDecoder();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}: ${dec.decode(stderr)}`);
  return dec.decode(stdout);
}
