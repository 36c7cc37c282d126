import assert from "node:assert/strict";
import { SAMPLE } from "./fixtures_test.ts";
import { githubDispatch, githubDispatchUrlProblem, githubHeaders } from "./github.ts";
import type { PromotionNotification } from "./payload.ts";

Deno.test("githubDispatchUrlProblem accepts <api>/repos/<owner>/<repo>/dispatches and nothing else", () => {
  assert.equal(
    githubDispatchUrlProblem("https://api.github.com/repos/acme/shop.web/dispatches"),
    null,
  );
  for (
    const url of [
      "https://api.github.com/repos/acme/shop",
      "https://api.github.com/repos/acme/dispatches",
      "https://api.github.com/repos/acme/shop/dispatches/",
      "https://api.github.com/repos/acme/shop/dispatches?x=1",
      "https://api.github.com.evil.test/repos/acme/shop/dispatches",
      "http://api.github.com/repos/acme/shop/dispatches",
      "https://github.example.com/api/v3/repos/acme/shop/dispatches",
    ]
  ) {
    assert.equal(
      githubDispatchUrlProblem(url),
      "expected https://api.github.com/repos/<owner>/<repo>/dispatches",
      url,
    );
  }
});

Deno.test("githubDispatchUrlProblem takes another API base (GitHub Enterprise Server, a local receiver)", () => {
  const ghes = "https://github.example.com/api/v3/";
  assert.equal(
    githubDispatchUrlProblem("https://github.example.com/api/v3/repos/acme/shop/dispatches", ghes),
    null,
  );
  assert.equal(
    githubDispatchUrlProblem(
      "http://127.0.0.1:8080/repos/acme/shop/dispatches",
      "http://127.0.0.1:8080",
    ),
    null,
  );
  assert.match(
    githubDispatchUrlProblem("https://api.github.com/repos/acme/shop/dispatches", ghes)!,
    /expected https:\/\/github\.example\.com\/api\/v3\/repos\/<owner>/,
  );
});

Deno.test("githubDispatch carries the promotion id, plan hash and environment under a fixed event type", () => {
  assert.deepEqual(githubDispatch(SAMPLE), {
    event_type: "stagecoach-promotion-approved",
    client_payload: {
      promotion_id: "5f0c2b8e-1d2a-4c3b-9e4f-5a6b7c8d9e0f",
      plan_hash: "ab".repeat(32),
      environment: "production",
    },
  });
});

Deno.test("githubDispatch names the release's commit when a release carries the promotion", () => {
  const approved = { ...SAMPLE, data: { ...SAMPLE.data, git_sha: "0123456789abcdef" } };
  assert.equal(githubDispatch(approved).client_payload.sha, "0123456789abcdef");
});

Deno.test("githubDispatch refuses any event but promotion.approved", () => {
  const failed = { ...SAMPLE, type: "promotion.failed" } as PromotionNotification;
  assert.throws(
    () => githubDispatch(failed),
    /^Error: Cannot dispatch to GitHub: promotion.failed is not promotion.approved$/,
  );
});

Deno.test("githubHeaders are the bearer token, GitHub's media type and the API version", () => {
  assert.deepEqual(githubHeaders("ghp_t0ken"), {
    accept: "application/vnd.github+json",
    authorization: "Bearer ghp_t0ken",
    "x-github-api-version": "2022-11-28",
  });
});
