/**
 * Notifications end to end on the running stack: a promotion transition writes outbox rows in
 * its own transaction; the ops-worker (through the gateway, with the service-role key, as
 * pg_cron calls it) delivers them to a local receiver that verifies the Standard Webhooks
 * signature; a failing receiver is retried with growing delays until the row is dead; the
 * CLI manages endpoints without ever showing a secret twice.
 *
 * Each test registers its own environment (`zz-n-…`), so only its own promotions reach its
 * endpoints, and removes it afterwards.
 *
 * Local receivers listen on 127.0.0.1, which the stack allow-lists for its functions
 * (`STAGECOACH_OUTBOUND_ALLOW=127.0.0.1`); tests that register or deliver from this process
 * pass the same allow-list explicitly. A receiver anywhere else on the loopback (127.0.0.2,
 * localhost) is not allow-listed and must never be reached.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { LOCAL_OUTBOUND_ALLOW, localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import { DEFAULT_RETRY_POLICY } from "../supabase/functions/_shared/notifications/backoff.ts";
import { GITHUB_API_URL_VAR } from "../supabase/functions/_shared/notifications/github.ts";
import { verify } from "../supabase/functions/_shared/notifications/signature.ts";
import { addEndpoint, sqlOutboxStore } from "../supabase/functions/_shared/notifications/store.ts";
import { deliverDueNotifications } from "../supabase/functions/_shared/notifications/worker.ts";
import {
  promote,
  withScratchEnv,
} from "../supabase/functions/_shared/notifications/fixtures_test.ts";
import {
  OUTBOUND_ALLOW_VAR,
  outboundPolicyFromEnv,
} from "../supabase/functions/_shared/outbound/policy.ts";

const dev = localEnv("development");

/** The allow-list the local stack gives its functions. */
const outbound = outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: LOCAL_OUTBOUND_ALLOW });

interface Received {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** A local HTTP receiver answering every request with `status`. */
function receiver(status: number, hostname = "127.0.0.1") {
  const received: Received[] = [];
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, async (req) => {
    received.push({
      method: req.method,
      path: new URL(req.url).pathname,
      headers: req.headers,
      body: await req.text(),
    });
    return new Response(status === 204 ? null : "receiver says no", { status });
  });
  const url = `http://${hostname}:${server.addr.port}`;
  return { received, url, port: server.addr.port, close: () => server.shutdown() };
}

/** Calls the ops-worker through the gateway as pg_cron does; returns its notifications report. */
async function callOpsWorker() {
  const keys = await readKeys(dev);
  const res = await fetch(`${dev.functionsUrl}/ops-worker`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${keys.service_role_key}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ source: "notifications_test" }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).notifications;
}

function outbox(sql: postgres.Sql, env: string) {
  return sql<
    {
      id: string;
      name: string;
      event_type: string;
      status: string;
      attempts: number;
      next_attempt_at: Date;
      last_attempt_at: Date | null;
      last_status_code: number | null;
      last_error: string | null;
    }[]
  >`
    select o.id, e.name, o.event_type, o.status, o.attempts, o.next_attempt_at, o.last_attempt_at,
           o.last_status_code, o.last_error
    from ops.notification_outbox as o
    join ops.notification_endpoints as e on e.id = o.endpoint_id
    where e.environment = ${env}
    order by o.id`;
}

Deno.test("a transition writes its outbox rows in the same transaction; a rolled-back one writes none", async () => {
  await withScratchEnv("zz-n", async (sql, env) => {
    await addEndpoint(sql, {
      environment: env,
      name: "all",
      kind: "slack",
      url: "https://x.test/",
    });
    await assert.rejects(
      sql.begin(async (tx) => {
        await promote(tx, env);
        const [{ n }] = await tx`
          select count(*)::int as n from ops.notification_outbox as o
          join ops.notification_endpoints as e on e.id = o.endpoint_id where e.environment = ${env}`;
        assert.equal(n, 1, "visible inside the transaction that made the transition");
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.equal((await outbox(sql, env)).length, 0, "the rolled-back transition left nothing");

    await promote(sql, env);
    assert.deepEqual(
      (await outbox(sql, env)).map((r) => [r.name, r.event_type, r.status, r.attempts]),
      [["all", "promotion.approved", "pending", 0]],
    );
  });
});

Deno.test("the ops-worker delivers signed webhooks and Slack messages once; a second run sends nothing twice", async () => {
  const rx = receiver(204);
  try {
    await withScratchEnv("zz-n", async (sql, env) => {
      const hook = await addEndpoint(sql, {
        environment: env,
        name: "hook",
        kind: "webhook",
        url: `${rx.url}/hook?token=t0k3n`,
      }, { outbound });
      const secret = hook.signing_secret!;
      await addEndpoint(sql, {
        environment: env,
        name: "chat",
        kind: "slack",
        url: `${rx.url}/chat`,
      }, { outbound });
      const id = await promote(sql, env);
      await sql`update ops.promotions set status = 'applying' where id = ${id}`;

      const report = await callOpsWorker();
      assert.equal(report.stopped, "drained");

      const rows = await outbox(sql, env);
      assert.equal(rows.length, 4, "two transitions × two endpoints");
      assert.ok(
        rows.every((r) => r.status === "delivered" && r.attempts === 1),
        JSON.stringify(rows),
      );
      assert.equal(rx.received.length, 4);

      const hooks = rx.received.filter((r) => r.path === "/hook");
      assert.equal(hooks.length, 2);
      for (const r of hooks) {
        await verify(secret, { headers: r.headers, body: r.body }); // throws unless the signature verifies
        assert.equal(JSON.parse(r.body).data.promotion_id, id);
      }
      assert.deepEqual(hooks.map((r) => JSON.parse(r.body).type).sort(), [
        "promotion.applying",
        "promotion.approved",
      ]);
      assert.notEqual(hooks[0].headers.get("webhook-id"), hooks[1].headers.get("webhook-id"));
      await assert.rejects(
        verify(secret, { headers: hooks[0].headers, body: hooks[0].body + " " }),
      ); // tamper check

      const chats = rx.received.filter((r) => r.path === "/chat");
      assert.equal(chats.length, 2);
      for (const r of chats) {
        const msg = JSON.parse(r.body);
        assert.match(msg.text, new RegExp(`development → ${env} \\(promotion ${id}, risk low`));
        assert.ok(Array.isArray(msg.blocks) && msg.blocks.length >= 2);
        assert.equal(r.headers.get("webhook-signature"), null);
      }

      const second = await callOpsWorker();
      assert.equal(rx.received.length, 4, `nothing delivered twice (${JSON.stringify(second)})`);
      assert.ok((await outbox(sql, env)).every((r) => r.attempts === 1));
    });
  } finally {
    await rx.close();
  }
});

Deno.test("the ops-worker sends a github endpoint GitHub's repository_dispatch when a promotion is approved, and nothing else", async () => {
  const rx = receiver(204);
  const token = "github_pat_11ABCDEFG0t0kenT0ken";
  try {
    await withScratchEnv("zz-n", async (sql, env) => {
      await addEndpoint(sql, {
        environment: env,
        name: "ci",
        kind: "github",
        url: `${rx.url}/repos/acme/shop/dispatches`,
        token,
      }, { outbound, githubApiUrl: rx.url });
      const id = await promote(sql, env); // approved at once: the scratch policy needs none
      await sql`update ops.promotions set status = 'applying' where id = ${id}`;
      const [{ plan_hash }] = await sql`select plan_hash from ops.promotions where id = ${id}`;

      await callOpsWorker();
      // pg_cron's own call may have claimed the row first: wait for whichever worker has it.
      for (let i = 0; i < 50 && (await outbox(sql, env)).some((o) => o.status === "pending"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      assert.equal(rx.received.length, 1, "promotion.approved only, once");
      const [r] = rx.received;
      assert.equal(r.method, "POST");
      assert.equal(r.path, "/repos/acme/shop/dispatches");
      assert.equal(r.headers.get("authorization"), `Bearer ${token}`);
      assert.equal(r.headers.get("accept"), "application/vnd.github+json");
      assert.equal(r.headers.get("x-github-api-version"), "2022-11-28");
      assert.equal(r.headers.get("content-type"), "application/json");
      assert.equal(r.headers.get("user-agent"), "Stagecoach-Notifications/1");
      assert.equal(r.headers.get("webhook-signature"), null);
      assert.equal(
        r.body,
        JSON.stringify({
          event_type: "stagecoach-promotion-approved",
          client_payload: { promotion_id: id, plan_hash, environment: env },
        }),
      );
      assert.deepEqual(
        (await outbox(sql, env)).map((o) => [o.event_type, o.status, o.last_status_code]),
        [["promotion.approved", "delivered", 204]],
      );
      const [{ leaks }] = await sql`
        select (select count(*) from ops.notification_outbox as o
                  join ops.notification_endpoints as e on e.id = o.endpoint_id
                 where e.environment = ${env}
                   and (o.payload::text like '%' || ${token} || '%'
                        or coalesce(o.last_error, '') like '%' || ${token} || '%'))
             + (select count(*) from ops.audit_log
                 where details::text like '%' || ${token} || '%')::int as leaks`;
      assert.equal(Number(leaks), 0, "the token is in no outbox row and no audit entry");
    });
  } finally {
    await rx.close();
  }
});

Deno.test("a failing receiver gets retries with growing delays, then the notification is dead", async () => {
  const rx = receiver(500);
  try {
    await withScratchEnv("zz-n", async (sql, env) => {
      await addEndpoint(sql, {
        environment: env,
        name: "down",
        kind: "webhook",
        url: `${rx.url}/down/s3cret-path`,
      }, { outbound });
      await promote(sql, env);
      const store = sqlOutboxStore(sql);
      // The worker's own code against the real database and a real receiver, on a clock that
      // jumps to each retry time instead of waiting for it (the cron-driven worker, on the real
      // clock, never sees these rows due).
      let clock = Date.now();
      const delays: number[] = [];
      for (let run = 0; run < 3 * DEFAULT_RETRY_POLICY.maxAttempts; run++) {
        await deliverDueNotifications(store, { now: () => new Date(clock), outbound });
        const [row] = await outbox(sql, env);
        if (row.status !== "pending") break;
        delays.push(row.next_attempt_at.getTime() - row.last_attempt_at!.getTime());
        clock = row.next_attempt_at.getTime();
      }
      const [row] = await outbox(sql, env);
      assert.equal(row.status, "dead");
      assert.equal(row.attempts, DEFAULT_RETRY_POLICY.maxAttempts);
      assert.equal(rx.received.length, DEFAULT_RETRY_POLICY.maxAttempts, "one request per attempt");
      assert.equal(row.last_status_code, 500);
      assert.equal(row.last_error, "http 500", "the status, never the receiver's body");
      assert.equal(delays.length, DEFAULT_RETRY_POLICY.maxAttempts - 1);
      delays.slice(1).forEach((d, i) => assert.ok(d > delays[i], `delays grow: ${delays}`));
      assert.ok(delays[0] >= 48_000 && delays[0] <= 72_000, `first delay ${delays[0]} ≈ 1 min`);
      // One webhook-id across all attempts, so the receiver can deduplicate.
      assert.equal(new Set(rx.received.map((r) => r.headers.get("webhook-id"))).size, 1);

      const [audit] = await sql`
        select details from ops.audit_log
        where action = 'notification.dead' and subject_id = ${row.id}`;
      assert.equal(audit.details.endpoint, "down");
      assert.equal(audit.details.attempts, DEFAULT_RETRY_POLICY.maxAttempts);
      assert.doesNotMatch(JSON.stringify(audit.details), /s3cret-path|receiver says no/);
    });
  } finally {
    await rx.close();
  }
});

Deno.test("the ops-worker never calls a receiver the allow-list does not name: nothing is sent, last_error says why", async () => {
  // Reachable receivers on the loopback, outside the stack's allow-list (127.0.0.1 only).
  const other = receiver(204, "127.0.0.2");
  const named = receiver(204);
  try {
    await withScratchEnv("zz-n", async (sql, env) => {
      // Stored as a direct session, without the CLI's checks: as endpoints registered before
      // the outbound rules existed. The worker must refuse them at delivery.
      const legacy: [string, string, string][] = [
        ["other-loopback", "webhook", `${other.url}/hook`],
        ["numeric-loopback", "webhook", `http://0x7f000002:${other.port}/n`],
        ["named-loopback", "slack", `http://localhost:${named.port}/chat`],
        ["metadata", "slack", "http://169.254.169.254/latest/meta-data/"],
      ];
      for (const [name, kind, url] of legacy) {
        await sql`select ops.add_notification_endpoint(${env}, ${name}, ${kind}, ${url})`;
      }
      await promote(sql, env);

      await callOpsWorker();

      assert.equal(other.received.length, 0, "nothing reached 127.0.0.2");
      assert.equal(named.received.length, 0, "nothing reached the receiver behind localhost");
      const rows = await outbox(sql, env);
      const loopback = "refused: address 127.0.0.2 is loopback (127.0.0.0/8)";
      assert.deepEqual(
        rows.map((r) => [r.name, r.status, r.attempts, r.last_status_code, r.last_error]).sort(),
        [
          [
            "metadata",
            "dead",
            1,
            null,
            "refused: address 169.254.169.254 is a cloud metadata service (169.254.169.254/32)",
          ],
          ["named-loopback", "dead", 1, null, "refused: host localhost is a local name"],
          ["numeric-loopback", "dead", 1, null, loopback],
          ["other-loopback", "dead", 1, null, loopback],
        ],
      );
      const audits = await sql<{ details: { last_error: string } }[]>`
        select a.details from ops.audit_log as a
        where a.action = 'notification.dead'
          and a.subject_id in (select o.id::text from ops.notification_outbox as o
                               join ops.notification_endpoints as e on e.id = o.endpoint_id
                               where e.environment = ${env})`;
      assert.equal(audits.length, 4);
      assert.ok(audits.every((a) => a.details.last_error.startsWith("refused: ")));
    });
  } finally {
    await Promise.all([other.close(), named.close()]);
  }
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return await cliWith({}, ...args);
}

async function cliWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: { NO_COLOR: "1", [OUTBOUND_ALLOW_VAR]: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** Runs the CLI with `input` on standard input (and no token in the environment). */
async function cliStdin(
  input: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: { NO_COLOR: "1", [OUTBOUND_ALLOW_VAR]: "", STAGECOACH_GITHUB_TOKEN: "" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("notifications add shows the secret once; list never shows it; remove is idempotent", async () => {
  const name = `cli-${crypto.randomUUID().slice(0, 8)}`;
  const url = "https://ci.example.test/hooks/p4th-t0ken";
  try {
    const addArgs = [
      ...["notifications", "add", "--env", "staging", "--name", name, "--kind", "webhook"],
      ...["--url", url, "--events", "approved,failed"],
    ];
    const add = await cli(...addArgs, "--json");
    assert.equal(add.code, 0, add.stderr);
    const added = JSON.parse(add.stdout);
    assert.equal(added.created, true);
    assert.match(added.signing_secret, /^whsec_/);

    const again = await cli(...addArgs);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^unchanged webhook endpoint ${name} in staging`));
    assert.doesNotMatch(again.stdout, /whsec_/);

    for (const args of [["--json"], []]) {
      const list = await cli("notifications", "list", "--env", "staging", ...args);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, new RegExp(name));
      assert.match(list.stdout, /https:\/\/ci\.example\.test\/…/);
      assert.doesNotMatch(list.stdout, /whsec_|p4th-t0ken/);
    }
    const listed = JSON.parse(
      (await cli("notifications", "list", "--env", "staging", "--json")).stdout,
    )
      .find((e: { name: string }) => e.name === name);
    assert.deepEqual(listed.events, ["promotion.approved", "promotion.failed"]);

    const removed = await cli("notifications", "remove", "--env", "staging", "--name", name);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`^removed ${name} from staging`));
    const twice = await cli("notifications", "remove", "--env", "staging", "--name", name);
    assert.equal(twice.code, 0);
    assert.match(twice.stdout, /nothing removed/);
  } finally {
    await cli("notifications", "remove", "--env", "staging", "--name", name);
  }
});

Deno.test("notifications add --kind github reads the token from stdin or STAGECOACH_GITHUB_TOKEN and never shows it", async () => {
  const name = `gh-${crypto.randomUUID().slice(0, 8)}`;
  const url = "https://api.github.com/repos/acme/shop/dispatches";
  const first = "github_pat_11FIRSTt0ken";
  const second = "github_pat_11SECONDt0ken";
  const sql = postgres(localEnv("staging").dbUrl, { max: 1, onnotice: () => {} });
  const add = ["notifications", "add", "--env", "staging", "--name", name, "--kind", "github"];
  try {
    const fromStdin = await cliStdin(first, ...add, "--url", url, "--json");
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    const added = JSON.parse(fromStdin.stdout);
    assert.deepEqual([added.created, added.kind, added.signing_secret], [true, "github", null]);

    const same = await cliStdin(first, ...add, "--url", url);
    assert.equal(same.code, 0, same.stderr);
    assert.match(
      same.stdout,
      new RegExp(`^unchanged github endpoint ${name} in staging, events: promotion.approved`),
    );

    const rotated = await cliWith({ STAGECOACH_GITHUB_TOKEN: second }, ...add, "--url", url);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, new RegExp(`^updated github endpoint ${name}`));
    const [row] = await sql`
      select private.decrypt_config_secret(secret_ciphertext) as token, events, url_hint
      from ops.notification_endpoints where environment = 'staging' and name = ${name}`;
    assert.deepEqual([row.token, row.events, row.url_hint], [
      second,
      ["promotion.approved"],
      "https://api.github.com/…",
    ]);

    const list = await cli("notifications", "list", "--env", "staging", "--json");
    const outputs = [fromStdin, same, rotated, list].map((r) => r.stdout + r.stderr).join("\n");
    assert.doesNotMatch(outputs, /t0ken/);
    const [{ n }] = await sql`
      select count(*)::int as n from ops.audit_log where details::text like '%t0ken%'`;
    assert.equal(n, 0, "no audit entry holds a token");
    const [{ changed }] = await sql`
      select details->>'token_changed' as changed from ops.audit_log
      where action = 'notification_endpoint.changed' and details->>'name' = ${name}`;
    assert.equal(changed, "true");

    const noToken = await cliStdin("", ...add, "--url", url);
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /The token on standard input is empty/);
    const wrongUrl = await cliStdin(
      first,
      ...add,
      "--url",
      "https://api.github.com/repos/acme/shop",
    );
    assert.equal(wrongUrl.code, 2);
    assert.match(
      wrongUrl.stderr,
      /Invalid --url: expected https:\/\/api\.github\.com\/repos\/<owner>\/<repo>\/dispatches/,
    );
    const otherEvents = await cliStdin(first, ...add, "--url", url, "--events", "failed");
    assert.equal(otherEvents.code, 1);
    assert.match(otherEvents.stderr, /a github endpoint hears promotion.approved only/);
    const ghes = await cliWith(
      {
        STAGECOACH_GITHUB_TOKEN: first,
        [GITHUB_API_URL_VAR]: "https://github.example.test/api/v3",
      },
      ...add,
      "--url",
      url,
    );
    assert.equal(ghes.code, 2, "another API base refuses github.com's URL");
    assert.match(ghes.stderr, /expected https:\/\/github\.example\.test\/api\/v3\/repos\//);
  } finally {
    await cli("notifications", "remove", "--env", "staging", "--name", name);
    await sql.end();
  }
});

Deno.test("notifications usage errors exit 2, name what is wrong, and write nothing", async () => {
  const sql = postgres(localEnv("staging").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const count = async () =>
      (await sql`select count(*)::int as n from ops.notification_endpoints`)[0].n;
    const before = await count();
    const base = ["notifications", "add", "--env", "staging"];
    const cases: [string[], RegExp][] = [
      [[...base, "--kind", "slack", "--url", "https://a.test/"], /Missing required option --name/],
      [
        [...base, "--name", "Bad!", "--kind", "slack", "--url", "https://a.test/"],
        /Invalid --name/,
      ],
      [[...base, "--name", "ok", "--kind", "fax", "--url", "https://a.test/"], /Invalid --kind/],
      [[...base, "--name", "ok", "--kind", "slack", "--url", "ftp://a.test/"], /Invalid --url/],
      [
        [
          ...base,
          "--name",
          "ok",
          "--kind",
          "slack",
          "--url",
          "https://a.test/",
          "--events",
          "nope",
        ],
        /Invalid --events: .*unknown promotion\.nope/,
      ],
      [["notifications", "add", "--env", "qa", "--name", "ok"], /Cannot find environment "qa"/],
      [["notifications", "remove", "--env", "staging"], /Missing required option --name/],
      [["notifications", "list"], /Missing required option --env/],
    ];
    for (const [args, message] of cases) {
      const res = await cli(...args);
      assert.equal(res.code, 2, `${args.join(" ")}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, message);
    }
    assert.equal(await count(), before);
    const help = await cli("notifications", "add", "--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: stagecoach notifications add/);
  } finally {
    await sql.end();
  }
});

Deno.test("notifications add refuses internal and plain-http URLs (exit 2, the reason, nothing written) unless the allow-list names them", async () => {
  const sql = postgres(localEnv("staging").dbUrl, { max: 1, onnotice: () => {} });
  const name = `cli-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const count = async () =>
      (await sql`select count(*)::int as n from ops.notification_endpoints`)[0].n;
    const before = await count();
    const add = ["notifications", "add", "--env", "staging", "--name", name, "--kind", "webhook"];
    const cases: [string, RegExp][] = [
      ["http://127.0.0.1:9/hook", /address 127\.0\.0\.1 is loopback \(127\.0\.0\.0\/8\)/],
      ["https://0x7f000001/hook", /address 127\.0\.0\.1 is loopback/],
      ["https://2130706433/hook", /address 127\.0\.0\.1 is loopback/],
      ["https://[::1]/hook", /address ::1 is loopback/],
      ["https://169.254.169.254/latest/meta-data/", /is a cloud metadata service/],
      ["https://10.0.0.8/hook", /address 10\.0\.0\.8 is private/],
      ["https://localhost/hook", /host localhost is a local name/],
      ["http://hooks.example.test/hook", /http is allowed only for allow-listed targets/],
    ];
    for (const [url, reason] of cases) {
      const res = await cli(...add, "--url", url);
      assert.equal(res.code, 2, `${url}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, /Invalid --url: refused: /, url);
      assert.match(res.stderr, reason, url);
    }
    assert.equal(await count(), before, "nothing was written");

    const allowed = await cliWith(
      { [OUTBOUND_ALLOW_VAR]: "127.0.0.1" },
      ...add,
      "--url",
      "http://127.0.0.1:9/hook",
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, new RegExp(`^created webhook endpoint ${name}`));
    const bad = await cliWith(
      { [OUTBOUND_ALLOW_VAR]: "10.1.0.0/8" },
      ...add,
      "--url",
      "https://hooks.example.test/",
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Cannot read STAGECOACH_OUTBOUND_ALLOW: entry "10\.1\.0\.0\/8"/);
  } finally {
    await cli("notifications", "remove", "--env", "staging", "--name", name);
    await sql.end();
  }
});
