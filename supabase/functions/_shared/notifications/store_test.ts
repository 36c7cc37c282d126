/**
 * The notification store against the running development database (the test runner passes
 * STAGECOACH_HOME and STAGECOACH_PORT_OFFSET on). Each test registers its own environment.
 */
import assert from "node:assert/strict";
import type { ClaimedNotification } from "./delivery.ts";
import { promote, withScratchEnv } from "./fixtures_test.ts";
import {
  addEndpoint,
  listEndpoints,
  recordOutcome,
  removeEndpoint,
  sqlOutboxStore,
} from "./store.ts";
import { OutboundRefusedError } from "../outbound/fetch.ts";
import { OUTBOUND_ALLOW_VAR, outboundPolicyFromEnv } from "../outbound/policy.ts";

Deno.test("addEndpoint returns the secret once, is idempotent, and listEndpoints shows no secret", async () => {
  await withScratchEnv("zz-store", async (sql, env) => {
    const url = "https://receiver.test/hooks/p4th-t0ken";
    const first = await addEndpoint(sql, { environment: env, name: "ci", kind: "webhook", url });
    assert.equal(first.created, true);
    assert.match(first.signing_secret ?? "", /^whsec_[A-Za-z0-9+/]{43}=$/);
    const again = await addEndpoint(sql, { environment: env, name: "ci", kind: "webhook", url });
    assert.deepEqual(again, { id: first.id, created: false, changed: false, signing_secret: null });

    const [listed] = await listEndpoints(sql, env);
    assert.equal(listed.url_hint, "https://receiver.test/…");
    assert.deepEqual(listed.events, ["*"]);
    const text = JSON.stringify(listed);
    assert.doesNotMatch(text, /p4th-t0ken|whsec_/);

    assert.equal(await removeEndpoint(sql, { environment: env, name: "ci" }), true);
    assert.equal(await removeEndpoint(sql, { environment: env, name: "ci" }), false);
    assert.deepEqual(await listEndpoints(sql, env), []);
  });
});

Deno.test("addEndpoint refuses bad input before writing anything", async () => {
  await withScratchEnv("zz-store", async (sql, env) => {
    const bad = [
      { environment: env, name: "Bad Name", kind: "webhook", url: "https://a.test/" },
      { environment: env, name: "ok", kind: "fax", url: "https://a.test/" },
      { environment: env, name: "ok", kind: "slack", url: "mailto:a@b.test" },
      { environment: env, name: "ok", kind: "slack", url: "https://u:p@a.test/" },
      { environment: env, name: "ok", kind: "slack", url: "https://a.test/", events: [] },
    ];
    for (const input of bad) {
      // deno-lint-ignore no-explicit-any
      await assert.rejects(addEndpoint(sql, input as any), { name: "ZodError" });
    }
    await assert.rejects(
      addEndpoint(sql, {
        environment: "zz-none",
        name: "ok",
        kind: "slack",
        url: "https://a.test/",
      }),
      /environment zz-none is not registered/,
    );
    assert.deepEqual(await listEndpoints(sql, env), []);
  });
});

Deno.test("addEndpoint refuses internal and non-https URLs with the reason, writing nothing", async () => {
  await withScratchEnv("zz-store", async (sql, env) => {
    const cases: [string, string][] = [
      ["http://127.0.0.1:8080/hook", "address 127.0.0.1 is loopback (127.0.0.0/8)"],
      ["https://0x7f000001/", "address 127.0.0.1 is loopback (127.0.0.0/8)"],
      ["https://169.254.169.254/latest", "address 169.254.169.254 is a cloud metadata service"],
      ["https://[::1]/", "address ::1 is loopback (::1/128)"],
      ["https://localhost/", "host localhost is a local name"],
      ["http://hooks.example.com/", "http is allowed only for allow-listed targets"],
    ];
    for (const [url, reason] of cases) {
      const refused = await addEndpoint(sql, { environment: env, name: "x", kind: "slack", url })
        .then(() => null, (err) => err);
      assert.ok(refused instanceof OutboundRefusedError, `${url}: ${refused}`);
      assert.ok(refused.reason.startsWith(reason), `${url}: ${refused.reason}`);
      assert.match(refused.message, /^Cannot add notification endpoint x: /);
    }
    assert.deepEqual(await listEndpoints(sql, env), []);

    const outbound = outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: "127.0.0.1" });
    const dev = await addEndpoint(sql, {
      environment: env,
      name: "dev",
      kind: "slack",
      url: "http://127.0.0.1:8080/hook",
    }, { outbound });
    assert.equal(dev.created, true, "the allow-list admits a development receiver");
  });
});

Deno.test("a claim is fenced: once the lease ran out and another worker claimed, the first cannot record", async () => {
  await withScratchEnv("zz-store", async (sql, env) => {
    await addEndpoint(sql, {
      environment: env,
      name: "hook",
      kind: "webhook",
      url: "https://receiver.test/x",
    });
    await promote(sql, env);
    const store = sqlOutboxStore(sql);
    const t0 = new Date(Date.now() + 3_600_000); // an hour ahead: nothing else is due then but ours
    const mine = (rows: ClaimedNotification[]) => rows.filter((r) => r.endpoint_name === "hook");
    const [first] = mine(await store.claim({ maxRows: 100, leaseMs: 60_000, asOf: t0 }));
    assert.equal(first.attempt, 1);
    assert.deepEqual(mine(await store.claim({ maxRows: 100, leaseMs: 60_000, asOf: t0 })), []);

    const later = new Date(t0.getTime() + 61_000);
    const [second] = mine(await store.claim({ maxRows: 100, leaseMs: 60_000, asOf: later }));
    assert.equal(second.attempt, 2, "the lease ran out, so another worker may claim");

    const delivered = {
      status: "delivered" as const,
      at: later,
      result: { ok: true as const, statusCode: 204 },
    };
    assert.deepEqual(await store.record([{ n: first, outcome: delivered }]), [false]);
    assert.deepEqual(await store.record([{ n: second, outcome: delivered }]), [true]);
    const [row] = await sql`
      select o.status, o.attempts, o.last_status_code from ops.notification_outbox as o
      join ops.notification_endpoints as e on e.id = o.endpoint_id where e.environment = ${env}`;
    assert.deepEqual({ ...row }, { status: "delivered", attempts: 2, last_status_code: 204 });
    assert.equal(await recordOutcome(sql, second, delivered), false, "already delivered");
  });
});
