/**
 * The audit log, newest first, page by page, with the verification of its hash chain (done by
 * the database: `ops.verify_audit_chain()`).
 *
 * @module
 */
import { useState } from "preact/hooks";
import type { OpsClient } from "../api.ts";
import { formatTime, prettyJson } from "../format.ts";
import { Badge, Show, Table, useLoad } from "../ui.tsx";

const PAGE = 50;

/** The audit page; `before` pages back through older entries. */
export function AuditPage(props: { ops: OpsClient }) {
  const [before, setBefore] = useState<number | undefined>(undefined);
  const [verified] = useLoad(() => props.ops("audit.verify"), []);
  const [loaded] = useLoad(
    () => props.ops("audit.list", { query: { before_id: before, limit: PAGE } }),
    [before],
  );
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Audit log</h1>
      <Show loaded={verified} what="the chain verification">
        {(v) => (
          <p data-testid="chain">
            <Badge value={v.intact ? "intact" : "broken"} /> hash chain of {v.entries} entries
            {v.intact ? " verified" : `: first broken entry ${v.first_broken_id}`}
          </p>
        )}
      </Show>
      <Show loaded={loaded} what="audit entries">
        {({ entries }) => (
          <>
            <Table
              caption="Audit entries, newest first"
              columns={["#", "When", "Who", "Action", "Subject", "Details"]}
            >
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>{e.id}</td>
                  <td>{formatTime(e.occurred_at)}</td>
                  <td>
                    {e.actor_email ?? e.actor ?? "system"} {e.actor_role && `(${e.actor_role})`}
                  </td>
                  <td class="mono">{e.action}</td>
                  <td class="mono">{e.subject_type} {e.subject_id?.slice(0, 8)}</td>
                  <td>
                    <details>
                      <summary>details</summary>
                      <pre>{prettyJson(e.details)}</pre>
                    </details>
                  </td>
                </tr>
              ))}
            </Table>
            <nav class="pager" aria-label="Audit pages">
              {before !== undefined && (
                <button type="button" onClick={() => setBefore(undefined)}>Newest</button>
              )}
              {entries.length === PAGE && (
                <button
                  type="button"
                  onClick={() => setBefore(Number(entries[entries.length - 1].id))}
                >
                  Older
                </button>
              )}
            </nav>
          </>
        )}
      </Show>
    </section>
  );
}
