/**
 * One promotion: the plan as a readable diff grouped by kind, its risk and reasons, pending
 * migrations with their lint findings, approvals given and required, the plan hash; and the
 * decisions the caller's role may ask for. Approve and Reject send the hash shown on this
 * page: the API refuses a decision on any other plan, and an apply whose source or target
 * moved since (plan_drift), and the page says so. Who may do what is the API's decision.
 *
 * @module
 */
import { useRef, useState } from "preact/hooks";
import type { OpsAnswer } from "../../../supabase/functions/_shared/api/contract.ts";
import { ApiProblem, type OpsClient } from "../api.ts";
import {
  type ExactJson,
  type ExactObject,
  fieldDiffs,
  formatTime,
  groupByKind,
  prettyJson,
  type ShownChange,
} from "../format.ts";
import { asProblem, Badge, Outcome, Show, useLoad } from "../ui.tsx";

type Shown = OpsAnswer<"promotion.show">;
type Action = NonNullable<Shown["actions"]>["decide"];

const SCHEMA_KIND = "schema_migrations";

/** The promotion page. */
export function PromotionPage(props: { ops: OpsClient; id: string }) {
  const { ops, id } = props;
  const [loaded, reload] = useLoad(() => ops("promotion.show", { params: { id } }), [id]);
  return (
    <section aria-labelledby="page-title">
      <Show loaded={loaded} what="the promotion">
        {(shown) => <Promotion {...props} shown={shown} reload={reload} />}
      </Show>
      {loaded.state !== "ready" && <h1 id="page-title" tabIndex={-1}>Promotion</h1>}
    </section>
  );
}

function Promotion(
  props: { ops: OpsClient; shown: Shown; reload: () => void },
) {
  const { promotion: p, approvals } = props.shown;
  const plan = p.plan;
  const highReasons = [
    ...new Set(plan.changes.filter((c) => c.risk === "high").flatMap((c) => c.reasons)),
  ];
  const approved = approvals.filter((a) => a.decision === "approve").length;
  const migrations = plan.changes.filter((c) => c.kind === SCHEMA_KIND);
  const data = plan.changes.filter((c) => c.kind !== SCHEMA_KIND);
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Promotion {p.source_env} → {p.target_env}
      </h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd data-testid="status">
          <Badge value={p.status} />
        </dd>
        <dt>Risk</dt>
        <dd>
          <Badge value={p.risk} />
          {highReasons.length > 0 && (
            <ul class="reasons" aria-label="Why the risk is high">
              {highReasons.map((r) => <li key={r}>{r}</li>)}
            </ul>
          )}
        </dd>
        <dt>Plan hash</dt>
        <dd class="mono hash" data-testid="plan-hash">{p.plan_hash}</dd>
        <dt>Approvals</dt>
        <dd>{approved} of {p.required_approvals} required</dd>
        <dt>Scope</dt>
        <dd>{p.scope.join(", ")}</dd>
        <dt>Created</dt>
        <dd>{formatTime(p.created_at)}</dd>
        {p.finished_at && (
          <>
            <dt>Finished</dt>
            <dd>{formatTime(p.finished_at)}</dd>
          </>
        )}
      </dl>
      <Actions {...props} />
      <h2>Approvals</h2>
      {approvals.length === 0 ? <p class="muted">No decision yet.</p> : (
        <ul class="approvals">
          {approvals.map((a) => (
            <li>
              <Badge value={a.decision} /> {a.email ?? a.approver_id}, {formatTime(a.created_at)}
              {a.comment && <q>{a.comment}</q>}
            </li>
          ))}
        </ul>
      )}
      {migrations.length > 0 && (
        <>
          <h2>Pending migrations</h2>
          <ul class="migrations">
            {migrations.map((m) => <Migration key={m.key} change={m} />)}
          </ul>
        </>
      )}
      <h2>Plan</h2>
      {data.length === 0 && migrations.length === 0 && <p class="muted">No changes.</p>}
      {groupByKind(data).map(([kind, changes]) => (
        <section class="kind" aria-label={`Changes to ${kind}`}>
          <h3>
            {kind} <span class="muted">({changes.length})</span>
          </h3>
          {changes.map((c) => <Change key={`${c.action}:${c.key}`} change={c} />)}
        </section>
      ))}
      {plan.kept.length > 0 && (
        <>
          <h2>Kept in the target</h2>
          <ul>
            {plan.kept.map((k) => (
              <li>
                <span class="mono">{k.key}</span> ({k.kind}): {k.reason}
              </li>
            ))}
          </ul>
        </>
      )}
      {props.shown.validation.length > 0 && (
        <>
          <h2>Validation</h2>
          <ul>
            {props.shown.validation.map((v) => (
              <li>
                <Badge value={v.passed ? "passed" : "failed"} /> {v.check_name}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

const SIGNS: Record<string, string> = {
  create: "+",
  update: "~",
  delete: "−",
  retire: "~",
  replace: "±",
  archive: "−",
};

function Change(props: { change: ShownChange }) {
  const c = props.change;
  const fields = fieldDiffs(c);
  return (
    <article class={`change change-${c.action}`}>
      <h4>
        <span aria-hidden="true">{SIGNS[c.action] ?? "·"}</span> <span class="mono">{c.key}</span>
        {" "}
        <span class="action">{c.action}</span> <Badge value={c.risk} />
      </h4>
      {c.reasons.length > 0 && <p class="muted">{c.reasons.join("; ")}</p>}
      {fields.length > 0 && (
        <table class="diff">
          <caption class="sr-only">Fields of {c.key}</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Before</th>
              <th scope="col">After</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((f) => (
              <tr>
                <th scope="row">
                  {f.name}
                  {f.secret && <span class="muted">(secret: fingerprint only)</span>}
                </th>
                <td>
                  <pre>{f.before ?? "—"}</pre>
                </td>
                <td>
                  <pre>{f.after ?? "—"}</pre>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </article>
  );
}

function Migration(props: { change: ShownChange }) {
  const after = (props.change.after ?? {}) as ExactObject;
  const findings = Array.isArray(after.findings) ? after.findings as ExactObject[] : [];
  const revert = after.revert as ExactObject | null | undefined;
  return (
    <li>
      <span class="mono">{String(after.version ?? props.change.key)}</span>{" "}
      {String(after.name ?? "")} <Badge value={props.change.risk} />
      <div class="muted">
        {revert ? `revert: ${String(revert.file)}` : "no revert: restore only"}
        {revert?.loses_data === true && ` (loses data: ${String(revert.reason ?? "declared")})`}
      </div>
      {findings.length === 0
        ? <div class="muted">No lint findings.</div>
        : (
          <ul class="findings" aria-label="Lint findings">
            {findings.map((f) => (
              <li>
                <span class="mono">{String(f.rule)}</span> {String(f.file)}:{show(f.line)}{" "}
                {String(f.message)}
              </li>
            ))}
          </ul>
        )}
    </li>
  );
}

function show(v: ExactJson | undefined): string {
  return v === undefined ? "" : typeof v === "string" ? v : prettyJson(v);
}

/** What a refusal means for the reader. */
function explain(problem: ApiProblem): string {
  if (problem.code === "plan_drift") {
    return "The plan changed since this page loaded: the source or the target moved. Nothing was written; plan again to review the new changes.";
  }
  if (problem.status === 409 && /plan hash/.test(problem.message)) {
    return "The plan changed since this page loaded: this decision was for another plan. Reload to review the current plan.";
  }
  if (problem.status === 403) return "The API refused: your role may not do this here.";
  return "";
}

function Actions(
  props: { ops: OpsClient; shown: Shown; reload: () => void },
) {
  const { ops } = props;
  const p = props.shown.promotion;
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const comment = useRef<HTMLTextAreaElement>(null);
  // What the database says the caller may do now (ops.promotion_actions). An action the
  // caller's role never takes, or that the status rules out, is not offered; one refused for
  // this caller (their own promotion, decided already, expired) is shown disabled, with why.
  const actions = props.shown.actions;
  const offer = (a: Action | undefined) =>
    a?.allowed ? "enabled" : a && a.code !== "role" && a.code !== "status" ? "refused" : "none";
  const decide = offer(actions?.decide);
  const apply = offer(actions?.apply);
  const rollback = offer(actions?.rollback);
  if (decide === "none" && apply === "none" && rollback === "none" && !done && !problem) {
    return null;
  }

  const act = async (what: string, call: () => Promise<{ promotion: { status: string } }>) => {
    setBusy(true);
    setProblem(null);
    setDone(null);
    try {
      const out = await call();
      setDone(`${what}: the promotion is now ${out.promotion.status.replaceAll("_", " ")}.`);
      props.reload();
    } catch (err) {
      setProblem(asProblem(err));
    } finally {
      setBusy(false);
    }
  };
  const send = (decision: "approve" | "reject") =>
    act(
      decision === "approve" ? "Approved" : "Rejected",
      () =>
        ops(decision === "approve" ? "promotion.approve" : "promotion.reject", {
          params: { id: p.id },
          // The hash on screen: the API refuses a decision on any other plan.
          body: { plan_hash: p.plan_hash, comment: comment.current?.value || undefined },
        }),
    );
  const hint = problem ? explain(problem) : "";
  return (
    <section class="actions" aria-label="Actions">
      {decide !== "none" && (
        <form onSubmit={(e) => e.preventDefault()}>
          <label for="decision-comment">Comment (optional)</label>
          <textarea
            id="decision-comment"
            ref={comment}
            rows={2}
            maxLength={2000}
            disabled={decide === "refused"}
          />
          <div class="buttons">
            <button
              type="button"
              disabled={busy || decide === "refused"}
              aria-describedby={decide === "refused" ? "decide-refused" : undefined}
              onClick={() => send("approve")}
            >
              Approve
            </button>
            <button
              type="button"
              class="danger"
              disabled={busy || decide === "refused"}
              aria-describedby={decide === "refused" ? "decide-refused" : undefined}
              onClick={() => send("reject")}
            >
              Reject
            </button>
          </div>
          {decide === "refused" && (
            <p id="decide-refused" class="refused" data-testid="decide-refused">
              You cannot decide: {actions?.decide.reason}.
            </p>
          )}
        </form>
      )}
      {apply === "refused" && <p class="refused">You cannot apply: {actions?.apply.reason}.</p>}
      {apply === "enabled" && (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            act("Applied", () => ops("promotion.apply", { params: { id: p.id }, body: {} }))}
        >
          Apply
        </button>
      )}
      {rollback === "enabled" && (
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() =>
            act("Rolled back", () => ops("promotion.rollback", { params: { id: p.id }, body: {} }))}
        >
          Roll back
        </button>
      )}
      <Outcome busy={busy} done={done} problem={problem}>
        {hint && <p class="hint">{hint}</p>}
        {problem && Array.isArray(problem.details.differences) && (
          <ul>
            {(problem.details.differences as string[]).map((d) => (
              <li key={d} class="mono">
                {d}
              </li>
            ))}
          </ul>
        )}
      </Outcome>
    </section>
  );
}
