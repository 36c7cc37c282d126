/**
 * Releases of this environment (newest first) and one release: its steps, the verified
 * backup taken before it changed anything, the health watch's samples, and what a rollback
 * did.
 *
 * @module
 */
import type { OpsClient } from "../api.ts";
import { formatTime, prettyJson } from "../format.ts";
import { Badge, Link, Show, Table, useLoad } from "../ui.tsx";
import { toJsonValue } from "../../../supabase/functions/_shared/json/lossless.ts";

/** The list of releases. */
export function ReleasesPage(props: { ops: OpsClient }) {
  const [loaded] = useLoad(() => props.ops("release.list", { query: { limit: 50 } }), []);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Releases</h1>
      <Show loaded={loaded} what="releases">
        {({ releases }) =>
          releases.length === 0 ? <p class="muted">No release recorded yet.</p> : (
            <Table
              caption="Releases, newest first"
              columns={["Commit", "Status", "From", "Started by", "Started"]}
            >
              {releases.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link to={`/releases/${r.id}`} class="mono">
                      {r.git_sha.slice(0, 12)}
                    </Link>
                  </td>
                  <td>
                    <Badge value={r.status} />
                  </td>
                  <td>{r.source_env}</td>
                  <td>{r.started_by}</td>
                  <td>{formatTime(r.created_at)}</td>
                </tr>
              ))}
            </Table>
          )}
      </Show>
    </section>
  );
}

function Json(props: { value: unknown; label: string }) {
  if (props.value === null || props.value === undefined) {
    return <p class="muted">None recorded.</p>;
  }
  return <pre aria-label={props.label}>{prettyJson(toJsonValue(props.value))}</pre>;
}

/** One release. */
export function ReleasePage(props: { ops: OpsClient; id: string }) {
  const [loaded] = useLoad(
    () => props.ops("release.show", { params: { id: props.id } }),
    [props.id],
  );
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Release</h1>
      <Show loaded={loaded} what="the release">
        {({ release: r, samples, reverts }) => (
          <>
            <dl class="facts">
              <dt>Commit</dt>
              <dd class="mono">{r.git_sha}</dd>
              <dt>Status</dt>
              <dd>
                <Badge value={r.status} />
              </dd>
              <dt>From</dt>
              <dd>{r.source_env}</dd>
              <dt>Promotion</dt>
              <dd>
                {r.promotion_id
                  ? <Link to={`/promotions/${r.promotion_id}`}>{r.promotion_id}</Link>
                  : "—"}
              </dd>
              <dt>Started</dt>
              <dd>{formatTime(r.created_at)} by {r.started_by}</dd>
            </dl>
            <h2>Steps</h2>
            <ol class="steps">
              {r.steps.map((s) => (
                <li>
                  <Badge value={s.status} /> <strong>{s.name}</strong>
                  {s.summary && <span class="muted">— {s.summary}</span>}
                </li>
              ))}
            </ol>
            <h2>Backup</h2>
            <Json value={r.backup} label="Backup" />
            <h2>Watch</h2>
            <Json value={r.watch} label="Watch settings and outcome" />
            {samples.length > 0 && (
              <Table
                caption="Watch samples"
                columns={["#", "Taken", "Healthy", "Measures"]}
                showCaption
              >
                {samples.map((s) => (
                  <tr>
                    <td>{s.seq}</td>
                    <td>{formatTime(s.taken_at)}</td>
                    <td>
                      <Badge value={s.healthy ? "healthy" : "unhealthy"} />
                    </td>
                    <td>
                      {s.metrics.map((m) =>
                        `${m.name} ${m.value ?? "—"} (${m.direction} ${m.threshold})`
                      ).join("; ")}
                    </td>
                  </tr>
                ))}
              </Table>
            )}
            {r.rollback && (
              <>
                <h2>Rollback</h2>
                <Json value={r.rollback} label="Rollback" />
              </>
            )}
            {reverts.length > 0 && (
              <>
                <h2>Migrations pushed</h2>
                <ul>
                  {reverts.map((v) => (
                    <li>
                      <span class="mono">{v.version}</span> {v.name}{" "}
                      {v.loses_data ? `(revert loses data: ${v.reason ?? "declared"})` : ""}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </>
        )}
      </Show>
    </section>
  );
}
