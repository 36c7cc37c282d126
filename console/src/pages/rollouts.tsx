/**
 * Rollouts: a flag's percentage raised in stages, gated by health. The list (flag, status,
 * percent, stage n of m, next advance) and one rollout: its stages with the current one
 * marked, the newest health samples, why it halted, the promotion that approved it; and
 * Pause / Resume / Abort, offered only where `GET /ops/rollouts/:id` says the caller may
 * (`actions`, from `ops.rollout_actions`), each confirmed first. The API and the database
 * decide every request; a refusal is shown in the API's words.
 *
 * @module
 */
import { useRef, useState } from "preact/hooks";
import type { OpsAnswer } from "../../../supabase/functions/_shared/api/contract.ts";
import type { ApiProblem, OpsClient } from "../api.ts";
import { formatTime } from "../format.ts";
import { asProblem, Badge, Link, Outcome, Show, Table, useLoad } from "../ui.tsx";

type Shown = OpsAnswer<"rollout.show">;
type Rollout = Shown["rollout"];
type Verb = "pause" | "resume" | "abort";

/** "stage 2 of 5": where the rollout is among its stages. */
function stageOf(r: Pick<Rollout, "stage_index" | "stages">): string {
  return `stage ${r.stage_index + 1} of ${r.stages.length}`;
}

/** The list of rollouts, newest first. */
export function RolloutsPage(props: { ops: OpsClient }) {
  const [loaded] = useLoad(() => props.ops("rollout.list", { query: { limit: 50 } }), []);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Rollouts</h1>
      <Show loaded={loaded} what="rollouts">
        {({ rollouts }) =>
          rollouts.length === 0 ? <p class="muted">No rollout in this environment yet.</p> : (
            <Table
              caption="Rollouts, newest first"
              columns={["Flag", "Status", "Percent", "Stage", "Next advance", "Started"]}
            >
              {rollouts.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link to={`/rollouts/${r.id}`} class="mono">{r.flag_key}</Link>
                  </td>
                  <td>
                    <Badge value={r.status} />
                  </td>
                  <td>{r.percent} %</td>
                  <td>{stageOf(r)}</td>
                  <td>{r.next_advance_at ? formatTime(r.next_advance_at) : "—"}</td>
                  <td>{formatTime(r.created_at)}</td>
                </tr>
              ))}
            </Table>
          )}
      </Show>
    </section>
  );
}

/** Why a rollout halted, in a line: who or which measures, at which percentage. */
function haltReason(halted: Record<string, unknown>): string {
  const breached = Array.isArray(halted.breached) ? halted.breached.length : 0;
  const who = typeof halted.by === "string" ? ` by ${halted.by}` : "";
  const comment = typeof halted.comment === "string" ? ` — “${halted.comment}”` : "";
  const why = breached ? ` after ${breached} unhealthy sample(s)` : "";
  return `${String(halted.action ?? "halted")}${who} at ${
    String(halted.percent ?? "?")
  } %${why}${comment}`;
}

/** One rollout. */
export function RolloutPage(props: { ops: OpsClient; id: string }) {
  const { ops, id } = props;
  const [loaded, reload] = useLoad(() => ops("rollout.show", { params: { id } }), [id]);
  return (
    <section aria-labelledby="page-title">
      <Show loaded={loaded} what="the rollout">
        {(shown) => <RolloutView ops={ops} shown={shown} reload={reload} />}
      </Show>
      {loaded.state !== "ready" && <h1 id="page-title" tabIndex={-1}>Rollout</h1>}
    </section>
  );
}

function RolloutView(props: { ops: OpsClient; shown: Shown; reload: () => void }) {
  const { rollout: r, samples, promotion } = props.shown;
  const ended = r.status === "rolled_back" || r.status === "aborted";
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Rollout of <span class="mono">{r.flag_key}</span>
      </h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd data-testid="rollout-status">
          <Badge value={r.status} />
        </dd>
        <dt>Percent</dt>
        <dd data-testid="rollout-percent">{r.percent} % ({stageOf(r)})</dd>
        <dt>Next advance</dt>
        <dd>{r.next_advance_at ? formatTime(r.next_advance_at) : "—"}</dd>
        <dt>Health gate</dt>
        <dd>
          a sample every {r.sample_every_s} s; {r.breach_after} unhealthy in a row{" "}
          {r.on_breach === "pause" ? "pause it" : "return it to 0 %"}; queries:{" "}
          {r.health.join(", ") || "the built-in measures only"}
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(r.created_at)} by {r.started_by} (from {r.from_percent} %)</dd>
        <dt>Approved by</dt>
        <dd>
          {promotion
            ? (
              <>
                <Link to={`/promotions/${promotion.id}`}>promotion {promotion.id.slice(0, 8)}</Link>
                {" "}
                ({promotion.status.replaceAll("_", " ")}
                {promotion.approved_by.length ? `: ${promotion.approved_by.join(", ")}` : ""})
              </>
            )
            : "no promotion (this environment needs none)"}
        </dd>
        {r.halted && (
          <>
            <dt>Halted</dt>
            <dd data-testid="halted">{haltReason(r.halted)}</dd>
          </>
        )}
      </dl>
      <h2>Stages</h2>
      <ol class="stages">
        {r.stages.map((p, i) => {
          const current = i === r.stage_index && !ended;
          return (
            <li
              key={i}
              aria-current={current ? "step" : undefined}
              class={current ? "current" : ""}
            >
              {p} %{current ? " — current" : i < r.stage_index ? " — done" : ""}
            </li>
          );
        })}
      </ol>
      <Actions ops={props.ops} shown={props.shown} reload={props.reload} />
      <h2>Newest samples</h2>
      {samples.length === 0
        ? <p class="muted">No sample taken yet.</p>
        : (
          <Table caption="Health samples, oldest first" columns={["#", "Taken", "At", "Health"]}>
            {samples.map((s) => (
              <tr key={s.seq}>
                <td>{s.seq}</td>
                <td>{formatTime(s.taken_at)}</td>
                <td>{s.percent} %</td>
                <td>
                  <Badge value={s.healthy ? "healthy" : "unhealthy"} />{" "}
                  {s.metrics.filter((m) => !m.healthy).map((m) =>
                    `${m.name} ${m.value ?? "unmeasured"} (${m.direction} ${m.threshold})`
                  ).join("; ")}
                </td>
              </tr>
            ))}
          </Table>
        )}
    </>
  );
}

const LABELS: Record<Verb, { button: string; ask: string; done: string }> = {
  pause: { button: "Pause", ask: "Pause this rollout at its percentage?", done: "Paused" },
  resume: {
    button: "Resume",
    ask: "Resume this rollout? Its stage's time starts again.",
    done: "Resumed",
  },
  abort: {
    button: "Abort",
    ask: "Abort this rollout? The flag returns to 0 % and the rollout ends.",
    done: "Aborted",
  },
};

function Actions(props: { ops: OpsClient; shown: Shown; reload: () => void }) {
  const { ops } = props;
  const r = props.shown.rollout;
  const [asking, setAsking] = useState<Verb | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const comment = useRef<HTMLTextAreaElement>(null);
  // Offered exactly what the database says the caller may do now (ops.rollout_actions).
  const actions = props.shown.actions;
  const offered = (["pause", "resume", "abort"] as const).filter((v) => actions?.[v].allowed);
  if (offered.length === 0 && !done && !problem) return null;
  // The confirmation question is announced when it appears (role=alert on its text).

  const confirm = async (verb: Verb) => {
    setBusy(true);
    setProblem(null);
    setDone(null);
    try {
      const out = await ops(`rollout.${verb}`, {
        params: { id: r.id },
        body: { comment: comment.current?.value || undefined },
      });
      setDone(
        `${LABELS[verb].done}: the rollout is now ${out.rollout.status.replaceAll("_", " ")}.`,
      );
      setAsking(null);
      props.reload();
    } catch (err) {
      setProblem(asProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="actions" aria-label="Actions">
      {asking === null
        ? (
          <div class="buttons">
            {offered.map((v) => (
              <button
                type="button"
                key={v}
                class={v === "abort" ? "danger" : undefined}
                disabled={busy}
                onClick={() => {
                  setAsking(v);
                  setProblem(null);
                  setDone(null);
                }}
              >
                {LABELS[v].button}
              </button>
            ))}
          </div>
        )
        : (
          <form
            aria-labelledby="confirm-ask"
            onSubmit={(e) => {
              e.preventDefault();
              confirm(asking);
            }}
          >
            <p id="confirm-ask" role="alert">
              <strong>{LABELS[asking].ask}</strong>
            </p>
            <label for="rollout-comment">Comment (optional)</label>
            <textarea id="rollout-comment" ref={comment} rows={2} maxLength={2000} />
            <div class="buttons">
              <button
                type="submit"
                class={asking === "abort" ? "danger" : undefined}
                disabled={busy}
              >
                Yes, {LABELS[asking].button.toLowerCase()}
              </button>
              <button type="button" disabled={busy} onClick={() => setAsking(null)}>
                Cancel
              </button>
            </div>
          </form>
        )}
      <Outcome busy={busy} done={done} problem={problem} />
    </section>
  );
}
