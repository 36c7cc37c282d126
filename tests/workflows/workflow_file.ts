/**
 * Workflow files as GitHub reads them: validated by GitHub's own parser
 * (`@actions/workflow-parser`, the schema and converter behind the Actions editor tooling),
 * and read as plain YAML for the rehearsal and for shellcheck.
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";
import { parse } from "yaml";

type WorkflowParser = typeof import("@actions/workflow-parser");
let parser: Promise<WorkflowParser> | undefined;

/**
 * GitHub's parser, bundled once per process with `deno bundle`: the package imports its
 * schema as `import … from "./workflow-v1.0.min.json"` without `with { type: "json" }`, which
 * Deno (like Node) refuses to load directly but the bundler inlines.
 */
function workflowParser(): Promise<WorkflowParser> {
  parser ??= (async () => {
    const out = join(await Deno.makeTempDir({ prefix: "workflow-parser-" }), "parser.js");
    const entry = fileURLToPath(new URL("./workflow_parser_entry.ts", import.meta.url));
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "deno", "--output", out, entry],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(
        `Cannot bundle @actions/workflow-parser: ${new TextDecoder().decode(stderr)}`,
      );
    }
    return await import(pathToFileURL(out).href) as WorkflowParser;
  })();
  return parser;
}

/** A step as written in a workflow. */
export interface WorkflowStep {
  id?: string;
  name?: string;
  if?: string | boolean;
  uses?: string;
  with?: Record<string, string | number | boolean>;
  run?: string;
  shell?: string;
  env?: Record<string, string | number | boolean>;
  "working-directory"?: string;
  "continue-on-error"?: boolean | string;
  "timeout-minutes"?: number;
}

/** A job as written in a workflow. */
export interface WorkflowJob {
  if?: string | boolean;
  needs?: string | string[];
  env?: Record<string, string | number | boolean>;
  outputs?: Record<string, string>;
  defaults?: { run?: { shell?: string; "working-directory"?: string } };
  "timeout-minutes"?: number;
  steps?: WorkflowStep[];
  [key: string]: unknown;
}

/** A workflow as written. */
export interface Workflow {
  name?: string;
  on: unknown;
  env?: Record<string, string | number | boolean>;
  defaults?: { run?: { shell?: string; "working-directory"?: string } };
  jobs: Record<string, WorkflowJob>;
}

/**
 * Validates a workflow with GitHub's parser: the schema (keys, types, which contexts each key
 * may use, expression syntax) and then the conversion to a workflow template (jobs, needs,
 * steps).
 *
 * @param name the file name, shown in the messages
 * @param content the YAML text
 * @returns the error messages; empty when GitHub would accept the workflow
 * @example
 * ```ts
 * await workflowErrors("ci.yml", "on: push\njobs: {}"); // [...]
 * ```
 */
export async function workflowErrors(name: string, content: string): Promise<string[]> {
  const { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } = await workflowParser();
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const errors = result.context.errors.getErrors().map((e) => e.message);
  if (errors.length === 0 && result.value) {
    const template = await convertWorkflowTemplate(result.context, result.value);
    errors.push(...(template.errors ?? []).map((e) => e.Message));
  }
  return errors;
}

/**
 * Reads a workflow file: refused unless GitHub's parser accepts it.
 *
 * @param path the file
 * @returns the workflow as plain data
 * @throws {Error} "Cannot read <path>: …" with GitHub's parser's messages
 */
export async function readWorkflow(path: string): Promise<Workflow> {
  const content = await Deno.readTextFile(path);
  const errors = await workflowErrors(path, content);
  if (errors.length) throw new Error(`Cannot read ${path}: ${errors.join("; ")}`);
  return parse(content) as Workflow;
}

/** A `run:` block, for shellcheck. */
export interface RunBlock {
  job: string;
  step: string;
  shell: string;
  script: string;
}

/**
 * Lists every `run:` block of a workflow with the shell it runs in.
 *
 * @param workflow the workflow
 * @returns the blocks, in job and step order
 */
export function runBlocks(workflow: Workflow): RunBlock[] {
  const blocks: RunBlock[] = [];
  for (const [jobId, job] of Object.entries(workflow.jobs)) {
    (job.steps ?? []).forEach((step, i) => {
      if (step.run === undefined) return;
      blocks.push({
        job: jobId,
        step: step.name ?? step.id ?? `step ${i + 1}`,
        shell: step.shell ?? job.defaults?.run?.shell ?? workflow.defaults?.run?.shell ?? "bash",
        script: step.run,
      });
    });
  }
  return blocks;
}
