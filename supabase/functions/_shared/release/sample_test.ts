import assert from "node:assert/strict";
import { functionsDown } from "./sample.ts";

/** A fake platform answering each function's probe with the status given by name. */
function platform(status: Record<string, number | "hang" | "refused">): {
  fetch: typeof fetch;
  seen: { url: string; auth: string | null }[];
} {
  const seen: { url: string; auth: string | null }[] = [];
  const fake = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    seen.push({ url, auth: new Headers(init?.headers).get("authorization") });
    const name = new URL(url).pathname.split("/")[3];
    const s = status[name];
    if (s === "refused") return Promise.reject(new TypeError("connection refused"));
    if (s === "hang") {
      return new Promise((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
      );
    }
    const body = s === 404
      ? '{"code":"NOT_FOUND","message":"Requested function was not found"}'
      : "{}";
    return Promise.resolve(new Response(body, { status: s }));
  };
  return { fetch: fake as typeof fetch, seen };
}

Deno.test("functionsDown probes ops, stripe-webhook and flags (with the anon key), and counts each one down", async () => {
  const ok = platform({ ops: 200, "stripe-webhook": 400, flags: 200 });
  const healthy = await functionsDown({
    functionsUrl: "https://ref.supabase.co/functions/v1/",
    anonKey: "anon-jwt",
    fetch: ok.fetch,
  });
  assert.equal(healthy.value, 0);
  assert.equal(healthy.healthy, true);
  assert.deepEqual(
    ok.seen.map((s) => s.url).sort(),
    [
      "https://ref.supabase.co/functions/v1/flags/ofrep/v1/evaluate/flags",
      "https://ref.supabase.co/functions/v1/ops/health",
      "https://ref.supabase.co/functions/v1/stripe-webhook",
    ],
  );
  assert.equal(ok.seen.find((s) => s.url.includes("/flags/"))?.auth, "Bearer anon-jwt");

  const bad = platform({ ops: 503, "stripe-webhook": "refused", flags: 404 });
  const down = await functionsDown({
    functionsUrl: "https://ref.supabase.co/functions/v1",
    fetch: bad.fetch,
    timeoutMs: 50,
  });
  assert.equal(down.value, 3);
  assert.equal(down.healthy, false);
  assert.equal(down.detail, "flags: HTTP 404; ops: HTTP 503; stripe-webhook: unreachable");

  const slow = platform({ ops: 200, "stripe-webhook": 400, flags: "hang" });
  const timedOut = await functionsDown({
    functionsUrl: "https://ref.supabase.co/functions/v1",
    fetch: slow.fetch,
    timeoutMs: 50,
  });
  assert.equal(timedOut.detail, "flags: no answer");
});

Deno.test("functionsDown does not count the platform's JWT refusal: the function was not reached", async () => {
  const p = platform({ ops: 401, "stripe-webhook": 400, flags: 401 });
  const m = await functionsDown({
    functionsUrl: "https://ref.supabase.co/functions/v1",
    fetch: p.fetch,
  });
  assert.equal(m.value, 0);
});
