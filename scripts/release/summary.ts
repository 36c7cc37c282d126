/**
 * How a release reports to GitHub Actions: the step outputs (`$GITHUB_OUTPUT`) and the job
 * summary in Markdown (`$GITHUB_STEP_SUMMARY`): the plan as a diff, its risk and approvals,
 * the validation and every step. Pure: values in, text out.
 *
 * @module
 */
import { renderPlan } from "../../supabase/functions/_shared/promotion/render.ts";
import type { ReleaseOutcome } from "./release.ts";

/** The outputs a workflow step reads (`steps.<id>.outputs.<name>`). */
export function releaseOutputs(out: ReleaseOutcome): Record<string, string> {
  return {
    release_id: out.release.id,
    status: out.release.status,
    exit_code: String(out.exitCode),
    promotion_id: out.promotion?.id ?? "",
    plan_hash: out.promotion?.plan_hash ?? "",
    git_sha: out.release.git_sha,
    backup_id: out.release.backup?.id ?? "",
    backup_dir: out.release.backup?.dir ?? "",
  };
}

/**
 * Lines for `$GITHUB_OUTPUT` (`name=value`; a value with a newline uses the delimiter form).
 *
 * @example
 * ```ts
 * githubOutputLines({ status: "succeeded" }); // "status=succeeded\n"
 * ```
 */
export function githubOutputLines(outputs: Record<string, string>): string {
  return Object.entries(outputs).map(([k, v]) => {
    if (!v.includes("\n")) return `${k}=${v}\n`;
    const delimiter = `EOF_${crypto.randomUUID()}`;
    return `${k}<<${delimiter}\n${v}\n${delimiter}\n`;
  }).join("");
}

const ICONS: Record<string, string> = {
  succeeded: "✅",
  skipped: "⏭️",
  failed: "❌",
  waiting: "⏳",
  running: "🔄",
};

/** The job summary of a release, in GitHub-flavoured Markdown. */
export function releaseMarkdown(out: ReleaseOutcome, opts: { approveHint?: string } = {}): string {
  const r = out.release;
  const lines = [
    `## Release ${r.source_env} → ${r.environment}: ${r.status.replace("_", " ")}`,
    "",
    `Commit \`${r.git_sha.slice(0, 12)}\` · started by ${r.started_by} · release \`${r.id}\``,
    "",
  ];
  if (out.error) lines.push(`> **${out.code ?? "error"}**: ${out.error}`, "");
  const p = out.promotion;
  if (p) {
    lines.push(
      "| promotion | status | risk | approvals required | plan hash |",
      "| --- | --- | --- | --- | --- |",
      `| \`${p.id}\` | ${p.status} | ${p.risk} | ${p.required_approvals} | \`${p.plan_hash}\` |`,
      "",
    );
    if (r.status === "waiting_approval" && opts.approveHint) {
      lines.push(`Approve: \`${opts.approveHint}\``, "");
    }
  }
  if (out.plan) {
    lines.push("<details open><summary>Plan</summary>", "", "```diff");
    lines.push(renderPlan(out.plan, { color: false, hash: p?.plan_hash }));
    lines.push("```", "", "</details>", "");
  }
  lines.push("| step | status | time | summary |", "| --- | --- | --- | --- |");
  for (const s of r.steps) {
    const ms = s.ms === undefined || s.ms === null ? "" : `${(Number(s.ms) / 1000).toFixed(1)} s`;
    const summary = (s.summary ?? "").replace(/\|/g, "\\|").replace(/\n/g, " ");
    lines.push(`| ${s.name} | ${ICONS[s.status] ?? ""} ${s.status} | ${ms} | ${summary} |`);
  }
  return lines.join("\n") + "\n";
}
