/**
 * The rules for requests Stagecoach sends to URLs that users supply (notification endpoints
 * today, any future outbound call tomorrow), without I/O:
 *
 * - only `https`, to a public address: never loopback, private, link-local, CGNAT, cloud
 *   metadata, multicast, documentation or otherwise reserved addresses (see `address.ts`),
 *   and never to local names (`localhost`, `*.localhost`, `*.local`, `*.internal`,
 *   `*.localdomain`, `*.home.arpa`, or a single label such as `metadata`, which the resolver
 *   completes with local search domains);
 * - no `user:password@` in the URL;
 * - an explicit allow-list (the function secret `STAGECOACH_OUTBOUND_ALLOW`) lifts these
 *   rules for named development targets: allow-listed targets may use plain `http` and
 *   private addresses. The local stack sets it to `127.0.0.1` for its own functions.
 *
 * Numeric host forms are caught because the WHATWG URL parser normalizes them before any
 * rule runs: `http://0x7f000001/`, `http://2130706433/`, `http://0177.0.0.1/` and
 * `http://127.1/` all have the hostname `127.0.0.1`.
 *
 * {@link checkOutboundUrl} runs on the URL alone (at registration and again before every
 * request); {@link checkResolvedAddresses} runs on what the host name resolves to, right
 * before the request (`fetch.ts` does the resolving).
 *
 * @module
 */
import { z } from "zod";
import {
  type Cidr,
  classifyAddress,
  describeAddress,
  inCidr,
  parseCidr,
  parseIp,
} from "./address.ts";

/** The environment variable (function secret) holding the allow-list. */
export const OUTBOUND_ALLOW_VAR = "STAGECOACH_OUTBOUND_ALLOW";

/** One allow-list entry: a host (any port), a host and port, or an address range. */
export type AllowEntry =
  | { kind: "host"; host: string; port?: number; text: string }
  | { kind: "cidr"; cidr: Cidr; text: string };

/** The allow-list outbound requests are checked against. */
export interface OutboundPolicy {
  allow: readonly AllowEntry[];
}

/** No allow-list: https to public addresses only. The default everywhere. */
export const STRICT_POLICY: OutboundPolicy = { allow: [] };

/** A URL that passed {@link checkOutboundUrl}. */
export interface OutboundTarget {
  /** The URL as the WHATWG parser normalized it: request exactly this one. */
  url: URL;
  /** The host name or address, without IPv6 brackets or a trailing dot. */
  host: string;
  /** The port the request goes to (443 / 80 when the URL names none). */
  port: number;
  /** Set when the host is an IP address literal. */
  address?: string;
  /** An allow-list entry matched the host (and port), or the literal address is in an allowed range. */
  allowListed: boolean;
}

/** What a check came to; `reason` is short, names no path or query, and is safe to store. */
export type OutboundVerdict<T> = { ok: true; value: T } | { ok: false; reason: string };

const LOCAL_NAME = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/;

function bareHost(hostname: string): string {
  const unbracketed = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  return unbracketed.endsWith(".") ? unbracketed.slice(0, -1) : unbracketed;
}

/** Normalizes a host as `new URL()` would; null when it is not a valid host. */
function normalizeHost(host: string): string | null {
  try {
    const url = new URL(`http://${host}/`);
    return url.username || url.password || url.port || url.pathname !== "/"
      ? null
      : bareHost(url.hostname);
  } catch {
    return null;
  }
}

function parseAllowEntry(text: string): AllowEntry | null {
  if (text.includes("/")) {
    const cidr = parseCidr(text);
    return cidr ? { kind: "cidr", cidr, text } : null;
  }
  // [v6]:port, [v6], host:port, host, or a bare IPv6 address (several colons, no port).
  const withPort = /^(\[[^\]]+\]|[^:[\]]+):([0-9]{1,5})$/.exec(text);
  const hostPart = withPort
    ? withPort[1]
    : text.includes(":") && !text.startsWith("[")
    ? `[${text}]`
    : text;
  const host = normalizeHost(hostPart);
  if (!host) return null;
  if (!withPort) return { kind: "host", host, text };
  const port = Number(withPort[2]);
  return port >= 1 && port <= 65535 ? { kind: "host", host, port, text } : null;
}

/**
 * The allow-list as written in `STAGECOACH_OUTBOUND_ALLOW`: entries separated by commas or
 * whitespace, each a host (`127.0.0.1`, `receiver.dev.internal`), a host and port
 * (`localhost:8080`, `[::1]:8080`) or an address range (`10.1.0.0/16`, `fd00::/8`). Empty or
 * absent means no allow-list.
 *
 * @example
 * ```ts
 * OutboundAllowSchema.parse("127.0.0.1, [::1]:9000 10.1.0.0/16").allow.length; // 3
 * ```
 */
export const OutboundAllowSchema = z.string().transform((value, ctx): OutboundPolicy => {
  const allow: AllowEntry[] = [];
  for (const text of value.split(/[\s,]+/).filter(Boolean)) {
    const entry = parseAllowEntry(text);
    if (entry) allow.push(entry);
    else {
      ctx.addIssue({
        code: "custom",
        message: `entry "${text}" is not a host, host:port or address range (CIDR)`,
      });
    }
  }
  return { allow };
});

/**
 * Reads the allow-list from the environment.
 *
 * @param vars the environment, e.g. `Deno.env.toObject()`
 * @returns the policy ({@link STRICT_POLICY} when the variable is absent or empty)
 * @throws {Error} `Cannot read STAGECOACH_OUTBOUND_ALLOW: …` naming the entry that is wrong
 * @example
 * ```ts
 * const policy = outboundPolicyFromEnv({ STAGECOACH_OUTBOUND_ALLOW: "127.0.0.1" });
 * checkOutboundUrl("http://127.0.0.1:8080/hook", policy).ok; // true
 * ```
 */
export function outboundPolicyFromEnv(vars: Record<string, string | undefined>): OutboundPolicy {
  const parsed = OutboundAllowSchema.safeParse(vars[OUTBOUND_ALLOW_VAR] ?? "");
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => i.message).join("; ");
    throw new Error(`Cannot read ${OUTBOUND_ALLOW_VAR}: ${problems}`);
  }
  return parsed.data;
}

function allowedRange(address: string, policy: OutboundPolicy): boolean {
  const bytes = parseIp(address);
  return !!bytes && policy.allow.some((e) => e.kind === "cidr" && inCidr(bytes, e.cidr));
}

function allowListed(host: string, port: number, policy: OutboundPolicy): boolean {
  return policy.allow.some((e) =>
    e.kind === "host" && e.host === host && (e.port === undefined || e.port === port)
  ) || allowedRange(host, policy);
}

/**
 * Checks a URL before anything is sent to it (and before it is stored as an endpoint).
 *
 * @param url the URL as given
 * @param policy the allow-list
 * @returns the normalized target, or the reason it is refused (e.g.
 * `address 127.0.0.1 is loopback (127.0.0.0/8)`)
 * @example
 * ```ts
 * checkOutboundUrl("http://0x7f000001:8080/", STRICT_POLICY);
 * // { ok: false, reason: "address 127.0.0.1 is loopback (127.0.0.0/8)" }
 * checkOutboundUrl("https://hooks.slack.com/services/T/B/x", STRICT_POLICY).ok; // true
 * ```
 */
export function checkOutboundUrl(
  url: string,
  policy: OutboundPolicy,
): OutboundVerdict<OutboundTarget> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: "the URL cannot be parsed" };
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    return { ok: false, reason: `scheme ${parsed.protocol} is not https` };
  }
  if (parsed.username || parsed.password) {
    return { ok: false, reason: "the URL carries user:password@" };
  }
  const host = bareHost(parsed.hostname);
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
  const listed = allowListed(host, port, policy);
  const literal = parseIp(host) ? host : undefined;
  const target: OutboundTarget = {
    url: parsed,
    host,
    port,
    ...(literal ? { address: literal } : {}),
    allowListed: listed,
  };
  if (!listed) {
    if (literal) {
      const c = classifyAddress(literal)!;
      if (c.kind !== "public") return { ok: false, reason: describeAddress(c) };
    } else if (LOCAL_NAME.test(host)) {
      return { ok: false, reason: `host ${host} is a local name` };
    } else if (!host.includes(".")) {
      return {
        ok: false,
        reason: `host ${host} is a single-label name (completed by local search domains)`,
      };
    }
    if (parsed.protocol === "http:") {
      return {
        ok: false,
        reason: `http is allowed only for allow-listed targets (${OUTBOUND_ALLOW_VAR}); use https`,
      };
    }
  }
  return { ok: true, value: target };
}

/**
 * Checks the addresses a target's host name resolved to: every one must be public (or in an
 * allowed range), so a name cannot point the request at an internal service. Targets whose
 * host an allow-list entry names are not resolved by callers and pass here too.
 *
 * @param target a target from {@link checkOutboundUrl}
 * @param addresses the host's A and AAAA answers
 * @param policy the allow-list
 * @returns ok, or the reason naming the first refused address
 * @example
 * ```ts
 * checkResolvedAddresses(target, ["93.184.215.14", "10.0.0.7"], STRICT_POLICY);
 * // { ok: false, reason: "host hooks.example.com: address 10.0.0.7 is private (10.0.0.0/8)" }
 * ```
 */
export function checkResolvedAddresses(
  target: OutboundTarget,
  addresses: readonly string[],
  policy: OutboundPolicy,
): OutboundVerdict<readonly string[]> {
  if (target.allowListed) return { ok: true, value: addresses };
  if (!addresses.length) {
    return { ok: false, reason: `cannot resolve host ${target.host}: no A or AAAA records` };
  }
  for (const address of addresses) {
    if (allowedRange(address, policy)) continue;
    const c = classifyAddress(address);
    if (!c) {
      return { ok: false, reason: `host ${target.host}: the resolver answered a non-address` };
    }
    if (c.kind !== "public") {
      return { ok: false, reason: `host ${target.host}: ${describeAddress(c)}` };
    }
  }
  return { ok: true, value: addresses };
}
