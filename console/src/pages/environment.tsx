/**
 * The environment at a glance: health of its `ops` function, the last release, and the
 * promotions waiting for approval.
 *
 * @module
 */
import type { OpsClient } from "../api.ts";
import { formatTime } from "../format.ts";
import { Badge, Link, Show, useLoad } from "../ui.tsx";

/** The home page of one environment's console. */
export function EnvironmentPage(props: { ops: OpsClient; env: string }) {
  const { ops } = props;
  const [loaded] = useLoad(async () => {
    const [health, releases, pending] = await Promise.all([
      ops("health"),
      ops("release.list", { query: { limit: 1 } }),
      ops("promotion.list", { query: { status: "awaiting_approval", limit: 20 } }),
    ]);
    return { health, last: releases.releases[0] ?? null, pending: pending.promotions };
  }, []);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Environment {props.env}</h1>
      <Show loaded={loaded} what="the environment">
        {({ health, last, pending }) => (
          <div class="cards">
            <article class="card">
              <h2>Health</h2>
              <p>
                <Badge value={health.ok ? "healthy" : "unhealthy"} /> ops API reports{" "}
                <strong>{health.env ?? "an unnamed environment"}</strong>
              </p>
            </article>
            <article class="card">
              <h2>Last release</h2>
              {last
                ? (
                  <p>
                    <Link to={`/releases/${last.id}`}>{last.git_sha.slice(0, 12)}</Link>{" "}
                    <Badge value={last.status} /> from {last.source_env},{" "}
                    {formatTime(last.created_at)}
                  </p>
                )
                : <p class="muted">No release recorded yet.</p>}
            </article>
            <article class="card">
              <h2>Pending approvals</h2>
              {pending.length === 0 ? <p class="muted">Nothing waits for approval.</p> : (
                <ul>
                  {pending.map((p) => (
                    <li key={p.id}>
                      <Link to={`/promotions/${p.id}`}>
                        {p.source_env} → {p.target_env}
                      </Link>{" "}
                      <Badge value={p.risk} /> {p.change_count} change(s), needs{" "}
                      {p.required_approvals} approval(s)
                    </li>
                  ))}
                </ul>
              )}
            </article>
          </div>
        )}
      </Show>
    </section>
  );
}
