/**
 * IP addresses without I/O: parsing (IPv4 dotted decimal, IPv6 text forms), CIDR ranges, and
 * the classification Stagecoach's outbound calls rely on: is an address a public unicast
 * address, or one of the special-purpose ranges (loopback, private, link-local, CGNAT, cloud
 * metadata, multicast, documentation, …) that a request to a user-supplied URL must never
 * reach?
 *
 * The ranges follow the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and
 * its updates). IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
 * IPv4-compatible `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`,
 * 6to4 `2002::/16`) are classified by the IPv4 address inside them, because that is where a
 * packet ends up. Only IPv6 global unicast (`2000::/3`) can be public.
 *
 * Parsing is strict on purpose: IPv4 must be four decimal parts (what the WHATWG URL parser
 * and DNS answers produce). The odd numeric forms a URL may carry (`0x7f000001`, `2130706433`,
 * `0177.0.0.1`, `127.1`) are normalized to dotted decimal by `new URL()` before anything here
 * sees them (see `policy.ts`).
 *
 * @module
 */

/** A parsed address: 4 bytes (IPv4) or 16 bytes (IPv6). */
export type IpBytes = Uint8Array;

/** An address range. */
export interface Cidr {
  bytes: IpBytes;
  prefix: number;
  /** The range as written, e.g. `10.0.0.0/8`. */
  text: string;
}

/** What an address is, from the point of view of an outbound request. */
export type AddressKind =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "shared"
  | "link-local"
  | "metadata"
  | "unique-local"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "reserved";

/** The classification of one address. */
export interface AddressClass {
  /** The address as given. */
  address: string;
  kind: AddressKind;
  /** The special-purpose range it falls in (absent for public addresses). */
  range?: string;
  /** For IPv6 forms carrying an IPv4 address: the form and the IPv4 address. */
  via?: string;
}

const KIND_TEXT: Record<AddressKind, string> = {
  public: "public",
  unspecified: "unspecified",
  loopback: "loopback",
  private: "private",
  shared: "shared address space (CGNAT)",
  "link-local": "link-local",
  metadata: "a cloud metadata service",
  "unique-local": "unique local (private IPv6)",
  multicast: "multicast",
  broadcast: "broadcast",
  documentation: "reserved for documentation",
  benchmarking: "reserved for benchmarking",
  reserved: "reserved",
};

/**
 * Parses IPv4 dotted decimal: four parts 0–255, no leading zeros, nothing else.
 *
 * @param text e.g. `192.0.2.1`
 * @returns 4 bytes, or null when `text` is not in that form
 * @example
 * ```ts
 * parseIPv4("127.0.0.1"); // Uint8Array [127, 0, 0, 1]
 * parseIPv4("0x7f000001"); // null (new URL() normalizes such forms first)
 * ```
 */
export function parseIPv4(text: string): IpBytes | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    bytes[i] = Number(p);
  }
  return bytes;
}

/**
 * Parses an IPv6 address in any RFC 4291 text form: full, `::`-compressed, with a trailing
 * dotted IPv4 part; without brackets and without a zone (`%eth0` is refused).
 *
 * @param text e.g. `::1`, `fe80::1`, `::ffff:127.0.0.1`
 * @returns 16 bytes, or null when `text` is not an IPv6 address
 * @example
 * ```ts
 * parseIPv6("::ffff:7f00:1"); // the IPv4-mapped form of 127.0.0.1
 * ```
 */
export function parseIPv6(text: string): IpBytes | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIPv4(piece);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  // A dotted IPv4 part may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * Parses an IPv4 or IPv6 address (IPv6 with or without brackets).
 *
 * @param text the address
 * @returns 4 or 16 bytes, or null when `text` is not an address
 */
export function parseIp(text: string): IpBytes | null {
  if (text.startsWith("[") && text.endsWith("]")) return parseIPv6(text.slice(1, -1));
  return parseIPv4(text) ?? (text.includes(":") ? parseIPv6(text) : null);
}

/**
 * Parses a CIDR range (`10.0.0.0/8`, `fd00::/8`); a bare address is its own /32 or /128.
 *
 * @param text the range
 * @returns the range, or null when `text` is not one (or has host bits set past the prefix)
 * @example
 * ```ts
 * parseCidr("127.0.0.0/8"); // { bytes: [127, 0, 0, 0], prefix: 8, text: "127.0.0.0/8" }
 * ```
 */
export function parseCidr(text: string): Cidr | null {
  const [addr, prefixText, extra] = text.split("/");
  if (extra !== undefined) return null;
  const bytes = parseIp(addr);
  if (!bytes) return null;
  const max = bytes.length * 8;
  if (prefixText !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return null;
  const cidr = { bytes, prefix, text };
  // Host bits set (10.1.2.3/8) is almost always a typo for another range: refuse it.
  return maskEquals(bytes, cidr) ? cidr : null;
}

function maskEquals(bytes: IpBytes, cidr: Cidr): boolean {
  for (let bit = cidr.prefix; bit < bytes.length * 8; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) return false;
  }
  return true;
}

/**
 * Whether an address lies in a range (IPv4 only in IPv4 ranges, IPv6 only in IPv6 ranges).
 *
 * @param bytes a parsed address
 * @param cidr a parsed range
 */
export function inCidr(bytes: IpBytes, cidr: Cidr): boolean {
  if (bytes.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[full] & mask) === (cidr.bytes[full] & mask);
}

function table(entries: [string, AddressKind][]): { cidr: Cidr; kind: AddressKind }[] {
  return entries.map(([text, kind]) => ({ cidr: parseCidr(text)!, kind }));
}

/** IANA IPv4 special-purpose ranges that are not globally reachable, plus metadata hosts. */
const IPV4_RANGES = table([
  ["0.0.0.0/8", "unspecified"], // "this network"; 0.0.0.0 reaches the local host on Linux
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "shared"], // RFC 6598 carrier-grade NAT
  ["100.100.100.200/32", "metadata"], // Alibaba Cloud
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["169.254.169.254/32", "metadata"], // AWS, GCP, Azure, OpenStack, DigitalOcean, …
  ["169.254.170.2/32", "metadata"], // AWS ECS task metadata and credentials
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"], // IETF protocol assignments
  ["192.0.0.192/32", "metadata"], // Oracle Cloud
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "reserved"], // deprecated 6to4 relay anycast
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
  ["255.255.255.255/32", "broadcast"],
]);

/** IANA IPv6 special-purpose ranges that carry no IPv4 address, plus metadata hosts. */
const IPV6_RANGES = table([
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["64:ff9b:1::/48", "reserved"], // local-use NAT64 (RFC 8215)
  ["100::/64", "reserved"], // discard-only
  ["2001::/23", "reserved"], // IETF protocol assignments (Teredo, ORCHID, benchmarking, …)
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
  ["5f00::/16", "reserved"], // SRv6 SIDs
  ["fc00::/7", "unique-local"],
  ["fd00:ec2::254/128", "metadata"], // AWS instance metadata over IPv6
  ["fe80::/10", "link-local"],
  ["fec0::/10", "reserved"], // deprecated site-local
  ["ff00::/8", "multicast"],
]);

const GLOBAL_UNICAST = parseCidr("2000::/3")!;

/** IPv6 forms that carry an IPv4 address: [range, name, offset of the IPv4 bytes]. */
const IPV4_CARRIERS: [Cidr, string, number][] = [
  [parseCidr("::ffff:0:0/96")!, "IPv4-mapped", 12],
  [parseCidr("::ffff:0:0:0/96")!, "IPv4-translated", 12],
  [parseCidr("64:ff9b::/96")!, "NAT64", 12],
  [parseCidr("2002::/16")!, "6to4", 2],
  // Checked last: ::/96 also holds :: and ::1, which the table above names first.
  [parseCidr("::/96")!, "IPv4-compatible", 12],
];

/** The most specific matching range (metadata /32s win over their /16). */
function lookup(bytes: IpBytes, ranges: { cidr: Cidr; kind: AddressKind }[]) {
  let best: { cidr: Cidr; kind: AddressKind } | undefined;
  for (const r of ranges) {
    if (inCidr(bytes, r.cidr) && (!best || r.cidr.prefix > best.cidr.prefix)) best = r;
  }
  return best;
}

function dotted(bytes: IpBytes, offset: number): string {
  return Array.from(bytes.subarray(offset, offset + 4)).join(".");
}

/**
 * Classifies an address for outbound requests.
 *
 * @param address an IPv4 (dotted decimal) or IPv6 address, with or without brackets
 * @returns its kind, the special-purpose range it is in, and for IPv6 forms carrying an IPv4
 * address which form and address; null when `address` is not an IP address
 * @example
 * ```ts
 * classifyAddress("169.254.169.254");
 * // { address: "169.254.169.254", kind: "metadata", range: "169.254.169.254/32" }
 * classifyAddress("::ffff:7f00:1");
 * // { address: "::ffff:7f00:1", kind: "loopback", range: "127.0.0.0/8", via: "IPv4-mapped 127.0.0.1" }
 * classifyAddress("2606:4700::1111"); // { address: "2606:4700::1111", kind: "public" }
 * ```
 */
export function classifyAddress(address: string): AddressClass | null {
  const bytes = parseIp(address);
  if (!bytes) return null;
  if (bytes.length === 4) {
    const hit = lookup(bytes, IPV4_RANGES);
    return hit ? { address, kind: hit.kind, range: hit.cidr.text } : { address, kind: "public" };
  }
  const named = lookup(bytes, IPV6_RANGES);
  if (named) return { address, kind: named.kind, range: named.cidr.text };
  for (const [cidr, form, offset] of IPV4_CARRIERS) {
    if (!inCidr(bytes, cidr)) continue;
    const v4 = dotted(bytes, offset);
    const inner = classifyAddress(v4)!;
    const via = `${form} ${v4}`;
    if (inner.kind !== "public") return { address, kind: inner.kind, range: inner.range, via };
    // A public IPv4 address behind NAT64 or the IPv4-mapped form is that public address;
    // the deprecated forms (IPv4-compatible, IPv4-translated, 6to4) have no business here.
    return form === "NAT64" || form === "IPv4-mapped"
      ? { address, kind: "public", via }
      : { address, kind: "reserved", range: cidr.text, via };
  }
  if (!inCidr(bytes, GLOBAL_UNICAST)) return { address, kind: "reserved", range: "not 2000::/3" };
  return { address, kind: "public" };
}

/**
 * Says in words why an address is refused.
 *
 * @param c a classification from {@link classifyAddress}
 * @returns e.g. `address 127.0.0.1 is loopback (127.0.0.0/8)`
 * @example
 * ```ts
 * describeAddress(classifyAddress("::ffff:a00:1")!);
 * // "address ::ffff:a00:1 is private (IPv4-mapped 10.0.0.1, 10.0.0.0/8)"
 * ```
 */
export function describeAddress(c: AddressClass): string {
  const where = [c.via, c.range].filter(Boolean).join(", ");
  return `address ${c.address} is ${KIND_TEXT[c.kind]}${where ? ` (${where})` : ""}`;
}
