/**
 * Rollouts: a flag's percentage raised in stages, gated by health.
 *
 * TODO(#15): rollouts are being built (branch `rollouts`); once the `ops` contract has their
 * routes, list each rollout with its stages here, with pause and abort for operators (shown
 * where the API allows, as the promotion page does). Nothing is read until then.
 *
 * @module
 */

/** The place of the rollouts page. */
export function RolloutsPage() {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Rollouts</h1>
      <p class="muted">Rollouts are not available in this version of Stagecoach yet.</p>
    </section>
  );
}
