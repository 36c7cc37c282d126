import assert from "node:assert/strict";
import {
  buildDeliveryRequest,
  type ClaimedNotification,
  classifyError,
  classifyRefusal,
  classifyResponse,
  parseRetryAfter,
  redactUrls,
} from "./delivery.ts";
import { SAMPLE } from "./fixtures_test.ts";
import { verify } from "./signature.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

function claimed(kind: ClaimedNotification["endpoint_kind"]): ClaimedNotification {
  return {
    outbox_id: 1,
    event_id: "0b6c3f0e-8d1a-4c2b-9a3e-7f6d5c4b3a21",
    event_type: SAMPLE.type,
    payload: SAMPLE,
    attempt: 1,
    endpoint_id: "1c7d4a1f-9e2b-4d3c-8b4f-6a5e4d3c2b10",
    endpoint_name: "ops-channel",
    endpoint_kind: kind,
    url: "https://hooks.slack.com/services/T000/B000/XXXX",
    signing_secret: kind === "webhook" ? SECRET : null,
  };
}

Deno.test("a webhook delivery is the generic payload, signed so a Standard Webhooks receiver verifies it", async () => {
  const at = new Date("2026-11-25T10:00:05Z");
  const req = await buildDeliveryRequest(claimed("webhook"), at);
  assert.equal(req.init.method, "POST");
  assert.equal(req.init.headers["content-type"], "application/json");
  assert.equal(req.init.headers["webhook-id"], "0b6c3f0e-8d1a-4c2b-9a3e-7f6d5c4b3a21");
  assert.equal(req.init.headers["webhook-timestamp"], String(at.getTime() / 1000));
  assert.deepEqual(JSON.parse(req.init.body), SAMPLE);
  await verify(SECRET, { headers: new Headers(req.init.headers), body: req.init.body, now: at });
});

Deno.test("a Slack delivery is { text, blocks } and carries no signature headers", async () => {
  const req = await buildDeliveryRequest(claimed("slack"), new Date());
  const body = JSON.parse(req.init.body);
  assert.deepEqual(Object.keys(body), ["text", "blocks"]);
  assert.equal(req.init.headers["webhook-signature"], undefined);
});

Deno.test("a github delivery is a repository_dispatch with the token as bearer, and no signature", async () => {
  const n = {
    ...claimed("github"),
    url: "https://api.github.com/repos/acme/shop/dispatches",
    signing_secret: "ghp_t0ken",
  };
  const req = await buildDeliveryRequest(n, new Date());
  assert.equal(req.url, "https://api.github.com/repos/acme/shop/dispatches");
  assert.equal(req.init.method, "POST");
  assert.deepEqual(req.init.headers, {
    accept: "application/vnd.github+json",
    authorization: "Bearer ghp_t0ken",
    "content-type": "application/json",
    "user-agent": "Stagecoach-Notifications/1",
    "x-github-api-version": "2022-11-28",
  });
  assert.equal(
    req.init.body,
    '{"event_type":"stagecoach-promotion-approved","client_payload":{' +
      `"promotion_id":"${SAMPLE.data.promotion_id}","plan_hash":"${"ab".repeat(32)}",` +
      '"environment":"production"}}',
  );
  await assert.rejects(
    buildDeliveryRequest({ ...n, signing_secret: null }, new Date()),
    /Cannot dispatch notification to ops-channel: it has no token/,
  );
});

Deno.test("a webhook endpoint without a secret cannot be delivered to", async () => {
  await assert.rejects(
    buildDeliveryRequest({ ...claimed("webhook"), signing_secret: null }, new Date()),
    /Cannot sign notification for ops-channel: it has no signing secret/,
  );
});

Deno.test("classifyResponse: 2xx delivered, 3xx/4xx/5xx failed by status alone, 410 permanent, Retry-After kept", () => {
  const now = new Date("2026-11-25T10:00:00Z");
  assert.deepEqual(classifyResponse(204, new Headers(), now), { ok: true, statusCode: 204 });
  assert.deepEqual(classifyResponse(302, new Headers({ location: "http://10.0.0.1/" }), now), {
    ok: false,
    statusCode: 302,
    error: "http 302: redirect not followed",
    permanent: false,
  });
  assert.deepEqual(classifyResponse(410, new Headers(), now), {
    ok: false,
    statusCode: 410,
    error: "http 410",
    permanent: true,
  });
  assert.deepEqual(classifyResponse(503, new Headers({ "retry-after": "120" }), now), {
    ok: false,
    statusCode: 503,
    error: "http 503",
    permanent: false,
    retryAfterMs: 120_000,
  });
});

Deno.test("classifyRefusal records the outbound rules' reason; permanent when the URL is refused", () => {
  assert.deepEqual(
    classifyRefusal({ reason: "address 127.0.0.1 is loopback (127.0.0.0/8)", permanent: true }),
    {
      ok: false,
      statusCode: null,
      error: "refused: address 127.0.0.1 is loopback (127.0.0.0/8)",
      permanent: true,
    },
  );
  const long = classifyRefusal({ reason: "x".repeat(500), permanent: false });
  assert.equal(long.ok ? 0 : long.error.length, 301, "kept short, like every stored error");
});

Deno.test("parseRetryAfter reads seconds and HTTP dates", () => {
  const now = new Date("2026-11-25T10:00:00Z");
  assert.equal(parseRetryAfter("30", now), 30_000);
  assert.equal(parseRetryAfter("Wed, 25 Nov 2026 10:01:00 GMT", now), 60_000);
  assert.equal(parseRetryAfter("soonish", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

Deno.test("errors never carry a full URL: Slack URLs are credentials", () => {
  const err = new TypeError(
    "error sending request for url (https://hooks.slack.com/services/T000/B000/XXXX): connection refused",
  );
  const result = classifyError(err, false, 15_000);
  assert.equal(result.ok, false);
  assert.doesNotMatch(JSON.stringify(result), /T000|XXXX/);
  assert.match(JSON.stringify(result), /https:\/\/hooks\.slack\.com\/…/);
  assert.deepEqual(classifyError(new Error("aborted"), true, 15_000), {
    ok: false,
    statusCode: null,
    error: "timeout: no response within 15000 ms",
    permanent: false,
  });
  assert.equal(
    redactUrls("see http://user:pw@10.0.0.1:8080/a?b=c and https://x.io"),
    "see http://10.0.0.1:8080/… and https://x.io/…",
  );
});
