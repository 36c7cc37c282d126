import assert from "node:assert/strict";
import { outboundFetch, OutboundRefusedError, resolveHost, type Resolver } from "./fetch.ts";
import { OUTBOUND_ALLOW_VAR, outboundPolicyFromEnv } from "./policy.ts";

/** A fetch that records what it was asked to send and answers 204. */
function recordingFetch() {
  const sent: { url: string; init: RequestInit }[] = [];
  const send = (url: string, init: RequestInit) => {
    sent.push({ url, init });
    return Promise.resolve(new Response(null, { status: 204 }));
  };
  return { sent, send };
}

function resolverOf(answers: Record<string, string[]>) {
  const asked: string[] = [];
  const resolve: Resolver = (host) => {
    asked.push(host);
    return Promise.resolve(answers[host] ?? []);
  };
  return { asked, resolve };
}

async function refusal(promise: Promise<unknown>): Promise<OutboundRefusedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof OutboundRefusedError, String(err));
    return err;
  }
  throw new Error("expected the request to be refused");
}

Deno.test("outboundFetch refuses an internal URL without resolving or sending anything", async () => {
  const { sent, send } = recordingFetch();
  const { asked, resolve } = resolverOf({});
  for (const url of ["http://127.0.0.1:8080/", "https://0x7f000001/", "https://[::1]/"]) {
    const err = await refusal(outboundFetch(url, { method: "POST" }, { fetch: send, resolve }));
    assert.equal(
      err.reason,
      url.includes("::1")
        ? "address ::1 is loopback (::1/128)"
        : "address 127.0.0.1 is loopback (127.0.0.0/8)",
    );
    assert.equal(err.permanent, true, "the URL itself is refused: retrying cannot help");
    assert.match(err.message, /^Cannot send the request: address/);
  }
  assert.equal(sent.length, 0);
  assert.equal(asked.length, 0);
});

Deno.test("outboundFetch refuses a name that resolves to an internal address, and sends nothing", async () => {
  const { sent, send } = recordingFetch();
  const { asked, resolve } = resolverOf({ "rebind.example.com": ["93.184.215.14", "10.0.0.7"] });
  const err = await refusal(
    outboundFetch("https://rebind.example.com/hook", { method: "POST" }, { fetch: send, resolve }),
  );
  assert.equal(err.reason, "host rebind.example.com: address 10.0.0.7 is private (10.0.0.0/8)");
  assert.equal(err.permanent, false, "what a name resolves to may change");
  assert.deepEqual(asked, ["rebind.example.com"]);
  assert.equal(sent.length, 0);
});

Deno.test("outboundFetch fails closed on a name without addresses", async () => {
  const { sent, send } = recordingFetch();
  const { resolve } = resolverOf({});
  const err = await refusal(
    outboundFetch("https://gone.example.com/", {}, { fetch: send, resolve }),
  );
  assert.equal(err.reason, "cannot resolve host gone.example.com: no A or AAAA records");
  assert.equal(sent.length, 0);
});

Deno.test("outboundFetch sends a public URL, normalized, with redirects off whatever the caller asked", async () => {
  const { sent, send } = recordingFetch();
  const { resolve } = resolverOf({ "hooks.example.com": ["93.184.215.14"] });
  const res = await outboundFetch("https://HOOKS.example.com:443/a?b=1", {
    method: "POST",
    redirect: "follow",
  }, { fetch: send, resolve });
  assert.equal(res.status, 204);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url, "https://hooks.example.com/a?b=1");
  assert.equal(sent[0].init.redirect, "manual");
  assert.equal(sent[0].init.method, "POST");
});

Deno.test("outboundFetch does not resolve address literals or allow-listed hosts", async () => {
  const { sent, send } = recordingFetch();
  const { asked, resolve } = resolverOf({});
  await outboundFetch("https://8.8.8.8/", {}, { fetch: send, resolve });
  const policy = outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: "receiver.dev.internal" });
  await outboundFetch("http://receiver.dev.internal/", {}, { fetch: send, resolve, policy });
  assert.equal(asked.length, 0);
  assert.deepEqual(sent.map((s) => s.url), ["https://8.8.8.8/", "http://receiver.dev.internal/"]);
});

Deno.test("outboundFetch hands a redirect back unfollowed: its target receives nothing", async () => {
  let targetHits = 0;
  const target = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    targetHits++;
    return new Response("secret");
  });
  const redirector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(null, {
        status: 302,
        headers: { location: `http://127.0.0.1:${target.addr.port}/` },
      }),
  );
  try {
    const policy = outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: "127.0.0.1" });
    const res = await outboundFetch(`http://127.0.0.1:${redirector.addr.port}/`, {
      method: "POST",
    }, { policy });
    await res.body?.cancel();
    assert.equal(res.status, 302);
    assert.equal(targetHits, 0);
  } finally {
    await Promise.all([target.shutdown(), redirector.shutdown()]);
  }
});

Deno.test("resolveHost reads A and AAAA (and /etc/hosts, like the system resolver)", async () => {
  const addresses = await resolveHost("localhost", { signal: AbortSignal.timeout(5000) });
  assert.ok(addresses.includes("127.0.0.1"), JSON.stringify(addresses));
});

Deno.test("resolveHost passes an abort through as it is, so the caller sees its own timeout", async () => {
  const controller = new AbortController();
  controller.abort(new Error("deadline"));
  await assert.rejects(resolveHost("localhost", { signal: controller.signal }), /deadline/);
});

Deno.test("a name that does not resolve is refused with the reason, nothing sent", async () => {
  const { sent, send } = recordingFetch();
  const err = await refusal(outboundFetch("https://nothing-here.invalid/", {
    signal: AbortSignal.timeout(10_000),
  }, { fetch: send }));
  assert.match(err.reason, /^cannot resolve host nothing-here\.invalid/);
  assert.equal(sent.length, 0);
});
