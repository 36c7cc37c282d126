/**
 * `stagecoach notifications add | list | remove`: where an environment sends word of its
 * promotions (Slack-compatible incoming webhooks, JSON webhooks signed per Standard Webhooks,
 * or GitHub `repository_dispatch` when a promotion is approved). Locally these go straight to
 * the environment's database as `postgres`; the SQL lives in
 * `supabase/functions/_shared/notifications/store.ts`. A github endpoint's token comes from
 * `STAGECOACH_GITHUB_TOKEN` or standard input, never from an option (shell history).
 *
 * @module
 */
import type { z } from "zod";
import {
  addEndpoint,
  EndpointInputSchema,
  EndpointKeySchema,
  GithubUrlError,
  listEndpoints,
  removeEndpoint,
} from "../../supabase/functions/_shared/notifications/store.ts";
import {
  GITHUB_API_URL,
  GITHUB_API_URL_VAR,
  GITHUB_EVENT_TYPE,
  githubDispatchUrlProblem,
} from "../../supabase/functions/_shared/notifications/github.ts";
import { parseEventList } from "../../supabase/functions/_shared/notifications/payload.ts";
import { OutboundRefusedError } from "../../supabase/functions/_shared/outbound/fetch.ts";
import {
  OUTBOUND_ALLOW_VAR,
  type OutboundPolicy,
  outboundPolicyFromEnv,
} from "../../supabase/functions/_shared/outbound/policy.ts";
import {
  defineCommand,
  ENV_OPTION,
  envOption,
  parseOptions,
  UsageError,
  withDatabase,
} from "./command.ts";

/** Parses with a zod schema, turning its first issue into a usage error naming the option. */
function parseOrUsage<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = String(issue.path[0] ?? "");
  // The token has no option (it comes from the environment or standard input).
  const flag = field === "token"
    ? "token"
    : field
    ? `--${field.replace("environment", "env")}`
    : "";
  throw new UsageError(`Invalid ${flag}: ${issue.message}`);
}

/** The allow-list this process runs under, a bad one being a usage error. */
function readOutboundPolicy(): OutboundPolicy {
  try {
    return outboundPolicyFromEnv(Deno.env.toObject());
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Where `notifications add --kind github` reads the token when standard input is a terminal. */
export const GITHUB_TOKEN_VAR = "STAGECOACH_GITHUB_TOKEN";

/** A github endpoint's token: `STAGECOACH_GITHUB_TOKEN`, else standard input (one line). */
async function readGithubToken(): Promise<string> {
  const fromEnv = Deno.env.get(GITHUB_TOKEN_VAR);
  if (fromEnv) return fromEnv.trim();
  if (Deno.stdin.isTerminal()) {
    throw new UsageError(
      `A github endpoint needs a token: pipe it on standard input or set ${GITHUB_TOKEN_VAR}`,
    );
  }
  const token = (await new Response(Deno.stdin.readable).text()).trim();
  if (!token) throw new UsageError("The token on standard input is empty");
  return token;
}

/** `notifications add`. */
export const notificationsAddCommand = defineCommand({
  name: "notifications add",
  summary: "Send an environment's promotion events to Slack, a webhook, or GitHub Actions",
  also: [
    `printf %s "$TOKEN" | stagecoach notifications add --env <env> --name <name> --kind github \\
         --url https://api.github.com/repos/<owner>/<repo>/dispatches [--json]`,
  ],
  description:
    `Adds a notification endpoint to the environment: every promotion transition into it (awaiting
approval, approved, rejected, expired, applying, succeeded, failed, rolled back) is delivered by
the ops-worker, with retries and exponential backoff.

  slack     a Slack-compatible incoming webhook: { text, blocks }
  webhook   a JSON POST signed per Standard Webhooks (webhook-id, webhook-timestamp,
            webhook-signature). Its whsec_ signing secret is printed ONCE, now: store it.
  github    when a promotion is approved (its quorum complete), GitHub's repository_dispatch
            with event_type ${GITHUB_EVENT_TYPE} and client_payload { promotion_id,
            plan_hash, environment }, so a workflow "on: repository_dispatch" applies it.
            The URL is <api>/repos/<owner>/<repo>/dispatches (api: ${GITHUB_API_URL}, or
            ${GITHUB_API_URL_VAR} for GitHub Enterprise Server). The token (Contents: write on
            the repository) comes from ${GITHUB_TOKEN_VAR} or standard input; it is stored
            encrypted and never shown. Run it again with another token to replace it.

The URL must be https to a public host: loopback, private, link-local, CGNAT and cloud
metadata addresses and local names (localhost, *.local, *.internal, single labels) are
refused, here and again (after a DNS lookup) before every delivery. For a development
receiver, name it in ${OUTBOUND_ALLOW_VAR} (hosts, host:port or CIDRs, comma-separated;
allow-listed targets may use http) here and in the functions' secrets.

The URL and the secret are stored encrypted; listings show only scheme and host. Running it
again with the same arguments changes nothing; with another URL or event list it updates the
endpoint and keeps its secret.`,
  options: {
    env: ENV_OPTION,
    name: {
      type: "string",
      value: "<name>",
      help: "lower-case letters, digits, - or _",
      required: true,
    },
    kind: { type: "string", value: "<kind>", help: "slack | webhook | github", required: true },
    url: {
      type: "string",
      value: "<url>",
      help: "https URL of a public host (no user:password@)",
      required: true,
    },
    events: {
      type: "string",
      value: "<list>",
      help:
        "comma-separated, e.g. approved,failed or promotion.succeeded (default *;\na github endpoint hears approved only)",
    },
    json: {
      type: "boolean",
      help: "print { env, id, name, kind, created, changed, signing_secret }",
    },
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const env = envOption(values.env);
    let events: string[] = ["*"];
    if (values.events !== undefined) {
      try {
        events = parseEventList(values.events);
      } catch (err) {
        throw new UsageError(`Invalid --events: ${(err as Error).message}`);
      }
    }
    for (const flag of ["name", "kind", "url"] as const) {
      if (!values[flag]) throw new UsageError(`Missing required option --${flag}`);
    }
    const github = values.kind === "github";
    const githubApiUrl = Deno.env.get(GITHUB_API_URL_VAR) || GITHUB_API_URL;
    const urlProblem = github && githubDispatchUrlProblem(values.url!, githubApiUrl);
    if (urlProblem) throw new UsageError(`Invalid --url: ${urlProblem}`);
    if (github && values.events === undefined) events = ["promotion.approved"];
    const input = parseOrUsage(EndpointInputSchema, {
      environment: env.name,
      name: values.name,
      kind: values.kind,
      url: values.url,
      events,
      token: github ? await readGithubToken() : undefined,
    });
    const outbound = readOutboundPolicy();
    const added = await withDatabase(env, async (sql) => {
      try {
        return await addEndpoint(sql, input, { outbound, githubApiUrl });
      } catch (err) {
        if (err instanceof GithubUrlError) throw new UsageError(`Invalid --url: ${err.message}`);
        if (!(err instanceof OutboundRefusedError)) throw err;
        throw new UsageError(`Invalid --url: refused: ${err.reason}`);
      }
    });
    if (values.json) {
      console.log(JSON.stringify(
        { env: env.name, name: input.name, kind: input.kind, ...added },
        null,
        2,
      ));
      return 0;
    }
    const verb = added.created ? "created" : added.changed ? "updated" : "unchanged";
    console.log(
      `${verb} ${input.kind} endpoint ${input.name} in ${env.name}, events: ${
        input.events.join(", ")
      }`,
    );
    if (added.signing_secret) {
      console.log(
        `signing secret (shown once; give it to the receiver to verify webhook-signature):\n  ${added.signing_secret}`,
      );
    }
    return 0;
  },
});

/** `notifications list`. */
export const notificationsListCommand = defineCommand({
  name: "notifications list",
  summary: "List an environment's notification endpoints and their deliveries (no secrets)",
  description:
    `Lists the environment's notification endpoints: kind, events, URL scheme and host, and how
many notifications are pending, delivered and dead. Never prints a URL path or a secret.`,
  options: {
    env: ENV_OPTION,
    json: { type: "boolean", help: "print the endpoints as JSON" },
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const env = envOption(values.env);
    const endpoints = await withDatabase(env, (sql) => listEndpoints(sql, env.name));
    if (values.json) {
      console.log(JSON.stringify(endpoints, null, 2));
      return 0;
    }
    if (!endpoints.length) {
      console.log(`no notification endpoints in ${env.name}`);
      return 0;
    }
    for (const e of endpoints) {
      console.log(
        `${e.name}  ${e.kind}  ${e.enabled ? "enabled" : "disabled"}  ${e.url_hint}\n` +
          `  events: ${e.events.join(", ")}\n` +
          `  pending ${e.pending}, delivered ${e.delivered}, dead ${e.dead}` +
          (e.last_error ? `\n  last error: ${e.last_error}` : ""),
      );
    }
    return 0;
  },
});

/** `notifications remove`. */
export const notificationsRemoveCommand = defineCommand({
  name: "notifications remove",
  summary: "Remove a notification endpoint (and its undelivered notifications)",
  description:
    `Removes the endpoint and the notifications still waiting for it. Removing an endpoint that
does not exist changes nothing.`,
  options: {
    env: ENV_OPTION,
    name: { type: "string", value: "<name>", help: "the endpoint's name", required: true },
    json: { type: "boolean", help: "print { env, name, removed }" },
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const env = envOption(values.env);
    if (!values.name) throw new UsageError("Missing required option --name");
    const key = parseOrUsage(EndpointKeySchema, { environment: env.name, name: values.name });
    const removed = await withDatabase(env, (sql) => removeEndpoint(sql, key));
    if (values.json) console.log(JSON.stringify({ env: env.name, name: key.name, removed }));
    else {
      console.log(
        removed
          ? `removed ${key.name} from ${env.name}`
          : `no endpoint ${key.name} in ${env.name}: nothing removed`,
      );
    }
    return 0;
  },
});
