/**
 * The promotions into this environment, newest first, filtered by status, risk and source
 * (the filters live in the address, so a filtered list can be shared).
 *
 * @module
 */
import type { OpsRequest } from "../../../supabase/functions/_shared/api/contract.ts";
import type { OpsClient } from "../api.ts";
import { PROMOTION_STATUSES_SHOWN } from "../statuses.ts";
import { formatTime } from "../format.ts";
import { Badge, Link, Show, Table, useLoad } from "../ui.tsx";

/** The filters of the list, as the contract's query names them. */
export type PromotionFilters = Pick<
  NonNullable<OpsRequest<"promotion.list">["query"]>,
  "status" | "risk" | "source"
>;

/**
 * Reads the filters from the address's query; an unknown status or risk is dropped.
 *
 * @example
 * ```ts
 * readFilters("status=approved&risk=bogus"); // { status: "approved" }
 * ```
 */
export function readFilters(search: string): PromotionFilters {
  const q = new URLSearchParams(search);
  const status = PROMOTION_STATUSES_SHOWN.find((s) => s === q.get("status"));
  const risk = (["low", "high"] as const).find((r) => r === q.get("risk"));
  const source = q.get("source") || undefined;
  return { status, risk, source };
}

/** The list page; `onFilter` puts new filters in the address. */
export function PromotionsPage(
  props: { ops: OpsClient; filters: PromotionFilters; onFilter: (f: PromotionFilters) => void },
) {
  const { ops, filters } = props;
  const [loaded] = useLoad(
    () => ops("promotion.list", { query: { ...filters, limit: 100 } }),
    [filters.status, filters.risk, filters.source],
  );
  const submit = (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const search = new URLSearchParams();
    for (const k of ["status", "risk", "source"]) {
      const v = String(form.get(k) ?? "").trim();
      if (v) search.set(k, v);
    }
    props.onFilter(readFilters(search.toString()));
  };
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>Promotions</h1>
      <form class="filters" onSubmit={submit} aria-label="Filter promotions">
        <label>
          Status
          <select name="status" value={filters.status ?? ""}>
            <option value="">any</option>
            {PROMOTION_STATUSES_SHOWN.map((s) => (
              <option key={s} value={s}>{s.replaceAll("_", " ")}</option>
            ))}
          </select>
        </label>
        <label>
          Risk
          <select name="risk" value={filters.risk ?? ""}>
            <option value="">any</option>
            <option value="low">low</option>
            <option value="high">high</option>
          </select>
        </label>
        <label>
          Source
          <input name="source" value={filters.source ?? ""} placeholder="staging" size={12} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Show loaded={loaded} what="promotions">
        {({ promotions }) =>
          promotions.length === 0 ? <p class="muted">No promotion matches.</p> : (
            <Table
              caption="Promotions, newest first"
              columns={["Promotion", "Status", "Risk", "Changes", "Created"]}
            >
              {promotions.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/promotions/${p.id}`}>
                      {p.source_env} → {p.target_env} <span class="mono">{p.id.slice(0, 8)}</span>
                    </Link>
                  </td>
                  <td>
                    <Badge value={p.status} />
                  </td>
                  <td>
                    <Badge value={p.risk} />
                  </td>
                  <td>{p.change_count}</td>
                  <td>{formatTime(p.created_at)}</td>
                </tr>
              ))}
            </Table>
          )}
      </Show>
    </section>
  );
}
