/**
 * `${{ … }}` expressions for the rehearsal harness, parsed and evaluated by GitHub's own
 * library (`@actions/expressions`), restricted to the references our workflows use, so a
 * workflow that starts reading something the rehearsal does not model fails loudly instead
 * of quietly seeing an empty value.
 *
 * Allowed references: `secrets.X`, `vars.X`, `env.X`, `inputs.X`, `github.event…`,
 * `github.<one of GITHUB_KEYS>`, `steps.<id>.outputs.<name>`, `steps.<id>.outcome|conclusion`,
 * `needs.<job>.outputs.<name>`, `needs.<job>.result`; functions: GitHub's built-in ones plus
 * the status functions `success()`, `failure()`, `always()`, `cancelled()`.
 *
 * @module
 */
import { data, Evaluator, type Expr, Lexer, Parser } from "@actions/expressions";
import type {
  Binary,
  ContextAccess,
  ExprVisitor,
  FunctionCall,
  Grouping,
  IndexAccess,
  Literal,
  Logical,
  Unary,
} from "@actions/expressions/ast";

/** The `github.*` keys the harness fills in (besides `github.event`). */
export const GITHUB_KEYS = [
  "sha",
  "ref",
  "ref_name",
  "event_name",
  "repository",
  "run_id",
  "workflow",
  "server_url",
] as const;

/** What an expression may read. Absent secrets, vars and env evaluate to null, as on GitHub. */
export interface ExpressionContext {
  secrets: Record<string, string>;
  vars: Record<string, string>;
  env: Record<string, string>;
  inputs: Record<string, string | number | boolean>;
  /** Declared inputs (workflow_dispatch): a reference to another name is refused. */
  declaredInputs: string[];
  github: Record<string, unknown>;
  steps: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }>;
  needs: Record<string, { outputs: Record<string, string>; result: string }>;
  /** The job's state for the status functions. */
  jobStatus: "success" | "failure" | "cancelled";
}

/** An expression the rehearsal does not model or cannot evaluate. */
export class ExpressionRefusedError extends Error {
  override name = "ExpressionRefusedError";
}

const STATUS_FUNCTIONS = ["success", "failure", "always", "cancelled"];
const CONTEXTS = ["secrets", "vars", "env", "inputs", "github", "steps", "needs"];

/**
 * Evaluates one expression (the text between `${{` and `}}`, or an `if:` condition).
 *
 * @param source the expression, e.g. `steps.plan.outputs.promotion_id || inputs.promotion_id`
 * @param ctx what it may read
 * @returns the result as GitHub's expression data
 * @throws {ExpressionRefusedError} on a syntax error or a reference outside the allowed set
 */
export function evaluate(source: string, ctx: ExpressionContext): data.ExpressionData {
  let expr: Expr;
  try {
    const lexed = new Lexer(source).lex();
    expr = new Parser(
      lexed.tokens,
      CONTEXTS,
      STATUS_FUNCTIONS.map((name) => ({ name, minArgs: 0, maxArgs: 0 })),
    ).parse();
  } catch (err) {
    throw new ExpressionRefusedError(`Cannot parse \${{ ${source} }}: ${(err as Error).message}`);
  }
  expr.accept(new ReferenceCheck(source, ctx));
  const status = (value: boolean) => new data.BooleanData(value);
  const functions = new Map([
    ["success", () => status(ctx.jobStatus === "success")],
    ["failure", () => status(ctx.jobStatus === "failure")],
    ["always", () => status(true)],
    ["cancelled", () => status(ctx.jobStatus === "cancelled")],
  ].map(([name, call]) => [name as string, { name, minArgs: 0, maxArgs: 0, call }] as const));
  try {
    return new Evaluator(expr, toData(contextData(ctx)), functions as never).evaluate();
  } catch (err) {
    throw new ExpressionRefusedError(
      `Cannot evaluate \${{ ${source} }}: ${(err as Error).message}`,
    );
  }
}

/**
 * Evaluates a step's or job's `if:` as the runner does: `${{ }}` around it is optional, and a
 * condition without a status function means `success() && (condition)`.
 *
 * @param condition the `if:` value; absent means `success()`
 * @param ctx what it may read
 * @returns whether the step or job runs
 */
export function evaluateCondition(
  condition: string | boolean | undefined,
  ctx: ExpressionContext,
): boolean {
  if (condition === undefined) return ctx.jobStatus === "success";
  if (typeof condition === "boolean") return condition && ctx.jobStatus === "success";
  let source = condition.trim();
  const wrapped = /^\$\{\{([\s\S]*)\}\}$/.exec(source);
  if (wrapped) source = wrapped[1].trim();
  const usesStatus = new RegExp(`\\b(${STATUS_FUNCTIONS.join("|")})\\s*\\(`).test(source);
  return truthy(evaluate(usesStatus ? source : `success() && (${source})`, ctx));
}

/**
 * Replaces every `${{ … }}` in a string value (an `env:`, `with:` or `run:` value) by its
 * result coerced to a string (null → empty), as the runner does.
 *
 * @param text the value from the workflow
 * @param ctx what expressions may read
 * @returns the interpolated string
 * @throws {ExpressionRefusedError} on an unterminated `${{`
 */
export function interpolate(text: string, ctx: ExpressionContext): string {
  return splitTemplate(text).map((part) =>
    part.kind === "text" ? part.value : evaluate(part.value, ctx).coerceString()
  ).join("");
}

/** A string value cut into literal text and expressions. */
export function splitTemplate(text: string): { kind: "text" | "expr"; value: string }[] {
  const parts: { kind: "text" | "expr"; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("${{", i);
    if (open < 0) break;
    if (open > i) parts.push({ kind: "text", value: text.slice(i, open) });
    const close = findClose(text, open + 3);
    if (close < 0) {
      throw new ExpressionRefusedError(`Cannot read ${text}: \${{ without a closing }}`);
    }
    parts.push({ kind: "expr", value: text.slice(open + 3, close).trim() });
    i = close + 2;
  }
  if (i < text.length) parts.push({ kind: "text", value: text.slice(i) });
  return parts;
}

/** The index of the `}}` closing an expression, skipping `'…'` string literals. */
function findClose(text: string, from: number): number {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "'") quoted = !quoted;
    else if (!quoted && text.startsWith("}}", i)) return i;
  }
  return -1;
}

/** GitHub's truthiness: null, false, 0, NaN and '' are false; arrays and objects are true. */
export function truthy(value: data.ExpressionData): boolean {
  switch (value.kind) {
    case data.Kind.Null:
      return false;
    case data.Kind.Boolean:
      return (value as data.BooleanData).value;
    case data.Kind.Number: {
      const n = (value as data.NumberData).value;
      return n !== 0 && !Number.isNaN(n);
    }
    case data.Kind.String:
      return (value as data.StringData).value.length > 0;
    default:
      return true;
  }
}

function contextData(ctx: ExpressionContext): Record<string, unknown> {
  return {
    secrets: ctx.secrets,
    vars: ctx.vars,
    env: ctx.env,
    inputs: ctx.inputs,
    github: ctx.github,
    steps: ctx.steps,
    needs: ctx.needs,
  };
}

function toData(value: Record<string, unknown>): data.Dictionary {
  return JSON.parse(JSON.stringify(value), data.reviver) as data.Dictionary;
}

/** Walks the parsed expression and refuses every reference outside the allowed set. */
class ReferenceCheck implements ExprVisitor<void> {
  constructor(private source: string, private ctx: ExpressionContext) {}

  private refuse(what: string): never {
    throw new ExpressionRefusedError(
      `Cannot rehearse \${{ ${this.source} }}: ${what} is not modelled by the rehearsal`,
    );
  }

  private fail(reason: string): never {
    throw new ExpressionRefusedError(`Cannot rehearse \${{ ${this.source} }}: ${reason}`);
  }

  /** The dotted path of a chain of literal index accesses on a context, or null. */
  private path(e: Expr): string[] | null {
    const name = (e as ContextAccess).name;
    if (name && !("expr" in e)) return [name.lexeme];
    if ("index" in e && "expr" in e) {
      const ia = e as IndexAccess;
      const base = this.path(ia.expr);
      const literal = (ia.index as Literal).literal;
      if (!base || !literal || literal.kind !== data.Kind.String) return null;
      return [...base, (literal as data.StringData).value];
    }
    return null;
  }

  private check(path: string[]): void {
    const [root, a, b, c] = path;
    const shown = path.join(".");
    const ok = (() => {
      switch (root) {
        case "secrets":
        case "vars":
        case "env":
          return path.length === 2;
        case "inputs":
          if (path.length === 2 && !this.ctx.declaredInputs.includes(a)) {
            this.fail(`the workflow declares no input ${a}`);
          }
          return path.length === 2;
        case "github":
          return a === "event" || (path.length === 2 && (GITHUB_KEYS as readonly string[])
            .includes(a));
        case "steps": {
          if (path.length < 3) return false;
          if (!(a in this.ctx.steps)) this.fail(`no earlier step has id ${a}`);
          return (path.length === 4 && b === "outputs") ||
            (path.length === 3 && (b === "outcome" || b === "conclusion"));
        }
        case "needs": {
          if (path.length < 3) return false;
          if (!(a in this.ctx.needs)) this.fail(`job ${a} is not in needs`);
          return (path.length === 4 && b === "outputs" && c !== undefined) ||
            (path.length === 3 && b === "result");
        }
      }
      return false;
    })();
    if (!ok) this.refuse(shown);
  }

  visitLiteral(_: Literal): void {}
  visitUnary(u: Unary): void {
    u.expr.accept(this);
  }
  visitBinary(b: Binary): void {
    b.left.accept(this);
    b.right.accept(this);
  }
  visitLogical(l: Logical): void {
    for (const arg of l.args) arg.accept(this);
  }
  visitGrouping(g: Grouping): void {
    g.group.accept(this);
  }
  visitContextAccess(c: ContextAccess): void {
    this.refuse(`the whole ${c.name.lexeme} context`);
  }
  visitIndexAccess(ia: IndexAccess): void {
    const path = this.path(ia);
    if (!path) this.refuse("a computed index");
    this.check(path);
  }
  visitFunctionCall(f: FunctionCall): void {
    const name = f.functionName.lexeme.toLowerCase();
    if (name === "hashfiles") this.refuse("hashFiles()");
    for (const arg of f.args) arg.accept(this);
  }
}
