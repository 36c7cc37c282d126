/**
 * GitHub endpoints (kind `github`): when a promotion becomes approved, GitHub's
 * `repository_dispatch` — `POST <api>/repos/{owner}/{repo}/dispatches`, answered `204 No
 * Content` — so the workflow that applies it starts then (`on: repository_dispatch: types:
 * [stagecoach-promotion-approved]`), with no runner waiting for approvals. Pure: the URL rule,
 * the headers and the body.
 *
 * The token (a fine-grained token or a GitHub App token with Contents: write on the
 * repository) is stored encrypted like a webhook's signing secret and reaches this module
 * only in the worker's claimed notification.
 *
 * @module
 */
import type { PromotionNotification } from "./payload.ts";

/** GitHub's REST API (github.com). */
export const GITHUB_API_URL = "https://api.github.com";

/**
 * The variable naming another API base for `notifications add --kind github`: GitHub
 * Enterprise Server (`https://github.example.com/api/v3`) or a local receiver in tests.
 */
export const GITHUB_API_URL_VAR = "STAGECOACH_GITHUB_API_URL";

/** The `event_type` of every dispatch: what `on: repository_dispatch: types:` names. */
export const GITHUB_EVENT_TYPE = "stagecoach-promotion-approved";

/** The REST API version the request is written for. */
export const GITHUB_API_VERSION = "2022-11-28";

const NAME = "[A-Za-z0-9_.-]+";

/**
 * Why a URL is not a dispatches URL under an API base, or null when it is one.
 *
 * @param url the endpoint URL
 * @param base the API base (default {@link GITHUB_API_URL}); a trailing `/` is ignored
 * @returns the reason, or null
 * @example
 * ```ts
 * githubDispatchUrlProblem("https://api.github.com/repos/acme/shop/dispatches"); // null
 * githubDispatchUrlProblem("https://api.github.com/repos/acme/shop");
 * // "expected https://api.github.com/repos/<owner>/<repo>/dispatches"
 * ```
 */
export function githubDispatchUrlProblem(url: string, base = GITHUB_API_URL): string | null {
  const root = base.replace(/\/+$/, "");
  const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^${escaped}/repos/${NAME}/${NAME}/dispatches$`);
  return pattern.test(url) ? null : `expected ${root}/repos/<owner>/<repo>/dispatches`;
}

/** The body of a dispatch: `{ event_type, client_payload }`. */
export interface GithubDispatch {
  event_type: typeof GITHUB_EVENT_TYPE;
  /** `sha`: the commit of the release that carries the promotion, when a release does. */
  client_payload: { promotion_id: string; plan_hash: string; environment: string; sha?: string };
}

/**
 * The dispatch a `promotion.approved` notification becomes.
 *
 * @param payload the outbox payload
 * @returns the request body
 * @throws {Error} for any other event (github endpoints hear only `promotion.approved`)
 * @example
 * ```ts
 * githubDispatch(approved);
 * // { event_type: "stagecoach-promotion-approved",
 * //   client_payload: { promotion_id: "5f0c…", plan_hash: "abab…", environment: "production" } }
 * ```
 */
export function githubDispatch(payload: PromotionNotification): GithubDispatch {
  if (payload.type !== "promotion.approved") {
    throw new Error(`Cannot dispatch to GitHub: ${payload.type} is not promotion.approved`);
  }
  const { promotion_id, plan_hash, environment, git_sha } = payload.data;
  return {
    event_type: GITHUB_EVENT_TYPE,
    client_payload: {
      promotion_id,
      plan_hash,
      environment,
      ...(typeof git_sha === "string" ? { sha: git_sha } : {}),
    },
  };
}

/**
 * The headers GitHub's REST API asks for, with the token as a bearer credential.
 *
 * @param token the endpoint's token
 * @returns `authorization`, `accept` and `x-github-api-version`
 */
export function githubHeaders(token: string): Record<string, string> {
  return {
    accept: "application/vnd.github+json",
    authorization: `Bearer ${token}`,
    "x-github-api-version": GITHUB_API_VERSION,
  };
}
