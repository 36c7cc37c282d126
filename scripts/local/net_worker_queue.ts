/**
 * The Postgres side of the pg_net stand-in's worker: the queue and response tables created
 * by `scripts/local/shim/04_pg_net.sql`, and its `net_http_request` notifications.
 *
 * Exercised against a real database by `tests/net_worker_test.ts` (a unit test would only
 * restate the SQL).
 *
 * @module
 */
import type postgres from "postgres";
import type { QueuedRequest } from "./net_worker_delivery.ts";
import type { NetQueue } from "./net_worker_loop.ts";

/** The channel the shim's insert trigger notifies. */
export const NET_CHANNEL = "net_http_request";

/**
 * A {@link NetQueue} over postgres.js. Claiming deletes the rows (`for update skip locked`, so
 * several workers never deliver one request twice), as pg_net removes a request from its
 * queue once its worker has picked it up.
 *
 * @param sql a postgres.js client connected as `postgres`
 * @returns the queue
 * @example
 * ```ts
 * await runNetWorker(postgresQueue(postgres(env.dbUrl)), { signal });
 * ```
 */
export function postgresQueue(sql: postgres.Sql): NetQueue {
  let listener: postgres.ListenMeta | null = null;
  return {
    async claim(limit: number): Promise<QueuedRequest[]> {
      const rows = await sql<QueuedRequest[]>`
        delete from net.http_request_queue
        where id in (
          select id from net.http_request_queue
          order by id
          limit ${limit}
          for update skip locked
        )
        returning id, method, url, headers, body, timeout_milliseconds`;
      return [...rows].sort((a, b) => Number(a.id) - Number(b.id));
    },
    async complete(row): Promise<void> {
      await sql`
        insert into net._http_response
          (id, status_code, content_type, headers, content, timed_out, error_msg)
        values (
          ${String(row.id)}::bigint, ${row.status_code}, ${row.content_type},
          ${row.headers === null ? null : sql.json(row.headers)},
          ${row.content}, ${row.timed_out}, ${row.error_msg}
        )`;
    },
    async prune(ttlSeconds: number): Promise<void> {
      await sql`
        delete from net._http_response
        where created < now() - make_interval(secs => ${ttlSeconds})`;
    },
    async subscribe(onWake: () => void): Promise<void> {
      listener = await sql.listen(NET_CHANNEL, () => onWake());
    },
    async unsubscribe(): Promise<void> {
      const current = listener;
      listener = null;
      await current?.unlisten();
    },
  };
}
