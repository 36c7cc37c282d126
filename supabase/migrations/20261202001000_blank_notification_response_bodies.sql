-- Intent: `ops.notification_outbox.last_error` holds a short reason, never a response body.
--
-- Until now the ops-worker stored the start of a failed receiver's response body in
-- `last_error` ("HTTP 500: <up to 300 characters of body>"), and ops members (viewers
-- included) read it. Pointed at an internal address, that turned the worker into a way to
-- read internal services (finding 7). The worker now stores only a reason: `http <status>`
-- (`http 3xx: redirect not followed`), `refused: <why the outbound rules refused the URL or
-- address>`, `timeout: …` or `network error: …`.
--
-- This migration rewrites what earlier attempts stored into that form (the body is dropped,
-- the status kept) and adds a check so that an `http` reason cannot carry anything after the
-- status again. Rows already in the new form are left as they are, so it re-runs safely.
--
-- Not touched: `notification.dead` entries in `ops.audit_log` copied `last_error` too. The
-- audit log is an append-only hash chain; rewriting it would break the chain, so those
-- entries keep what they recorded.

update ops.notification_outbox
   set last_error = case
         when last_error ~ '^HTTP [1-5][0-9]{2}'
           then 'http ' || substring(last_error from '^HTTP ([1-5][0-9]{2})')
                || case when last_error ~ '^HTTP 3' then ': redirect not followed' else '' end
         when last_error ~ '^Timeout: ' then 'timeout: ' || substring(last_error from 10)
         when last_error ~ '^Network error: ' then 'network error: ' || substring(last_error from 16)
         else 'network error: (earlier error text removed)'
       end
 where last_error is not null
   and last_error !~ '^(http [1-5][0-9]{2}(: redirect not followed)?|(refused|timeout|network error): .+)$';

alter table ops.notification_outbox
  drop constraint if exists notification_outbox_last_error_is_a_reason;
alter table ops.notification_outbox
  add constraint notification_outbox_last_error_is_a_reason check (
    last_error ~ '^(http [1-5][0-9]{2}(: redirect not followed)?|(refused|timeout|network error): [^\n]+)$'
    and length(last_error) <= 320
  );

comment on column ops.notification_outbox.last_error is
  'Why the last attempt failed, in a few words (http 500, refused: …, timeout: …, network error: …); never a response body.';
