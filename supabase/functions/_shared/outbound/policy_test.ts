import assert from "node:assert/strict";
import {
  checkOutboundUrl,
  checkResolvedAddresses,
  OUTBOUND_ALLOW_VAR,
  type OutboundPolicy,
  outboundPolicyFromEnv,
  type OutboundTarget,
  STRICT_POLICY,
} from "./policy.ts";

function reasonOf(url: string, policy: OutboundPolicy = STRICT_POLICY): string {
  const verdict = checkOutboundUrl(url, policy);
  assert.ok(!verdict.ok, `${url} should be refused`);
  return verdict.reason;
}

function targetOf(url: string, policy: OutboundPolicy = STRICT_POLICY): OutboundTarget {
  const verdict = checkOutboundUrl(url, policy);
  assert.ok(verdict.ok, `${url} should pass: ${!verdict.ok && verdict.reason}`);
  return verdict.value;
}

function allow(list: string): OutboundPolicy {
  return outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: list });
}

Deno.test("checkOutboundUrl: numeric IPv4 host forms are normalized by the URL parser, then refused", () => {
  // The WHATWG URL parser turns every one of these into 127.0.0.1 before the rules run.
  for (
    const url of [
      "https://127.0.0.1/",
      "https://0x7f000001/",
      "https://2130706433/",
      "https://0177.0.0.1/",
      "https://0177.0000.0000.0001/",
      "https://127.1/",
      "https://127.0.1/",
      "https://0x7f.1/",
      "https://0x7F.0.0.1/",
      "https://%31%32%37.0.0.1/",
      "https://\uff11\uff12\uff17.0.0.1/", // full-width digits
      "https://127.0.0.1./",
      "https://127.0.0.1:8443/hook",
    ]
  ) {
    assert.equal(new URL(url).hostname, "127.0.0.1", url);
    assert.equal(reasonOf(url), "address 127.0.0.1 is loopback (127.0.0.0/8)", url);
  }
  assert.equal(new URL("https://0/").hostname, "0.0.0.0");
  assert.match(reasonOf("https://0/"), /^address 0\.0\.0\.0 is unspecified/);
  assert.match(reasonOf("https://0xa9fea9fe/"), /^address 169\.254\.169\.254 is a cloud metadata/);
  assert.match(reasonOf("https://3232235777/"), /^address 192\.168\.1\.1 is private/);
  assert.match(reasonOf("https://012.0.0.1/"), /^address 10\.0\.0\.1 is private/);
});

Deno.test("checkOutboundUrl: IPv6 literals, in every spelling, are judged by their address", () => {
  assert.match(reasonOf("https://[::1]/"), /^address ::1 is loopback/);
  assert.match(reasonOf("https://[0:0:0:0:0:0:0:1]/"), /^address ::1 is loopback/);
  assert.match(reasonOf("https://[::]/"), /^address :: is unspecified/);
  assert.equal(
    reasonOf("https://[::ffff:127.0.0.1]/"),
    "address ::ffff:7f00:1 is loopback (IPv4-mapped 127.0.0.1, 127.0.0.0/8)",
  );
  assert.match(reasonOf("https://[::ffff:a9fe:a9fe]/"), /is a cloud metadata service/);
  assert.match(reasonOf("https://[fd00:ec2::254]/"), /is a cloud metadata service/);
  assert.match(reasonOf("https://[fe80::1]/"), /is link-local/);
  assert.match(reasonOf("https://[fc00::1]/"), /is unique local/);
  assert.match(reasonOf("https://[64:ff9b::7f00:1]/"), /is loopback \(NAT64 127\.0\.0\.1/);
  assert.match(reasonOf("https://[::127.0.0.1]/"), /is loopback \(IPv4-compatible 127\.0\.0\.1/);
  assert.match(reasonOf("https://[ff02::1]/"), /is multicast/);
  assert.equal(targetOf("https://[2606:4700:4700::1111]/").address, "2606:4700:4700::1111");
});

Deno.test("checkOutboundUrl: every private and special IPv4 range is refused", () => {
  const cases: [string, RegExp][] = [
    ["https://10.1.2.3/", /is private \(10\.0\.0\.0\/8\)/],
    ["https://172.16.0.1/", /is private \(172\.16\.0\.0\/12\)/],
    ["https://172.31.255.254/", /is private/],
    ["https://192.168.0.1/", /is private \(192\.168\.0\.0\/16\)/],
    ["https://169.254.1.1/", /is link-local \(169\.254\.0\.0\/16\)/],
    ["https://169.254.169.254/latest/meta-data/", /is a cloud metadata service/],
    ["https://100.64.0.1/", /is shared address space \(CGNAT\)/],
    ["https://100.100.100.200/", /is a cloud metadata service/],
    ["https://0.0.0.0/", /is unspecified/],
    ["https://224.0.0.1/", /is multicast/],
    ["https://240.0.0.1/", /is reserved/],
    ["https://255.255.255.255/", /is broadcast/],
    ["https://192.0.2.1/", /is reserved for documentation/],
    ["https://198.18.0.1/", /is reserved for benchmarking/],
  ];
  for (const [url, reason] of cases) assert.match(reasonOf(url), reason, url);
  assert.equal(targetOf("https://8.8.8.8/").address, "8.8.8.8");
});

Deno.test("checkOutboundUrl: local names are refused before any lookup", () => {
  assert.equal(reasonOf("https://localhost/"), "host localhost is a local name");
  assert.equal(reasonOf("https://LOCALHOST./"), "host localhost is a local name");
  assert.equal(reasonOf("https://api.localhost/"), "host api.localhost is a local name");
  assert.equal(reasonOf("https://printer.local/"), "host printer.local is a local name");
  assert.equal(
    reasonOf("https://metadata.google.internal/computeMetadata/v1/"),
    "host metadata.google.internal is a local name",
  );
  assert.equal(reasonOf("https://nas.home.arpa/"), "host nas.home.arpa is a local name");
  assert.equal(reasonOf("https://box.localdomain/"), "host box.localdomain is a local name");
  assert.equal(
    reasonOf("https://metadata/"),
    "host metadata is a single-label name (completed by local search domains)",
  );
  // Names that merely contain those words are ordinary names.
  assert.equal(targetOf("https://localhost.example.com/").host, "localhost.example.com");
  assert.equal(targetOf("https://internal.example.com/").host, "internal.example.com");
});

Deno.test("checkOutboundUrl: only https, without credentials, unless allow-listed", () => {
  assert.equal(
    reasonOf("http://hooks.example.com/"),
    `http is allowed only for allow-listed targets (${OUTBOUND_ALLOW_VAR}); use https`,
  );
  assert.equal(reasonOf("ftp://hooks.example.com/"), "scheme ftp: is not https");
  assert.equal(reasonOf("file:///etc/passwd"), "scheme file: is not https");
  assert.equal(reasonOf("javascript:alert(1)"), "scheme javascript: is not https");
  assert.equal(reasonOf("https://u:p@hooks.example.com/"), "the URL carries user:password@");
  assert.equal(reasonOf("not a url"), "the URL cannot be parsed");
  // The host is judged before the scheme: the more useful reason comes first.
  assert.match(reasonOf("http://127.0.0.1:8080/"), /is loopback/);
});

Deno.test("checkOutboundUrl: a public https URL passes, normalized, with its port", () => {
  const t = targetOf("https://Hooks.Slack.com/services/T0/B0/x?y=1");
  assert.equal(t.url.href, "https://hooks.slack.com/services/T0/B0/x?y=1");
  assert.equal(t.host, "hooks.slack.com");
  assert.equal(t.port, 443);
  assert.equal(t.address, undefined);
  assert.equal(t.allowListed, false);
  assert.equal(targetOf("https://hooks.example.com:8443/").port, 8443);
  assert.equal(targetOf("https://hooks.example.com./").host, "hooks.example.com");
});

Deno.test("the allow-list lifts the rules for exactly the hosts, ports and ranges it names", () => {
  const local = allow("127.0.0.1");
  const t = targetOf("http://127.0.0.1:8080/hook", local);
  assert.equal(t.allowListed, true);
  assert.equal(targetOf("https://0x7f000001:9/", local).allowListed, true, "numeric forms match");
  assert.match(reasonOf("http://127.0.0.2:8080/", local), /is loopback/);
  assert.equal(reasonOf("http://localhost:8080/", local), "host localhost is a local name");
  assert.match(reasonOf("http://[::1]:8080/", local), /is loopback/);
  assert.match(reasonOf("http://hooks.example.com/", local), /^http is allowed only/);

  const ported = allow("localhost:9000, [::1]:9001");
  assert.equal(targetOf("http://localhost:9000/", ported).allowListed, true);
  assert.equal(targetOf("http://LOCALHOST:9000/", ported).allowListed, true);
  assert.equal(reasonOf("http://localhost:9002/", ported), "host localhost is a local name");
  assert.equal(targetOf("http://[::1]:9001/", ported).allowListed, true);
  assert.match(reasonOf("http://[::1]:9000/", ported), /is loopback/);

  const range = allow("10.1.0.0/16 fd00::/8");
  assert.equal(targetOf("http://10.1.2.3/", range).allowListed, true);
  assert.match(reasonOf("http://10.2.0.1/", range), /is private/);
  assert.equal(targetOf("http://[fd00::5]:80/", range).allowListed, true);

  const defaultPort = allow("receiver.dev.internal:80");
  assert.equal(targetOf("http://receiver.dev.internal/", defaultPort).allowListed, true);
  assert.equal(
    reasonOf("https://receiver.dev.internal/", defaultPort),
    "host receiver.dev.internal is a local name",
  );
});

Deno.test("outboundPolicyFromEnv reads hosts, host:port, [v6]:port and CIDRs; refuses the rest", () => {
  assert.deepEqual(outboundPolicyFromEnv({}), STRICT_POLICY);
  assert.deepEqual(outboundPolicyFromEnv({ [OUTBOUND_ALLOW_VAR]: " " }), STRICT_POLICY);
  const p = allow("127.0.0.1,localhost:8080 [::1]:9000 ::1 10.0.0.0/8\nfd00::/8");
  assert.deepEqual(
    p.allow.map((e) => e.kind === "host" ? [e.host, e.port] : [e.cidr.text]),
    [
      ["127.0.0.1", undefined],
      ["localhost", 8080],
      ["::1", 9000],
      ["::1", undefined],
      ["10.0.0.0/8"],
      ["fd00::/8"],
    ],
  );
  for (const bad of ["10.1.0.0/8", "host:99999", "a b/c", "http://x", "user@host", "h:0"]) {
    assert.throws(
      () => allow(bad),
      new RegExp(`^Error: Cannot read ${OUTBOUND_ALLOW_VAR}: entry ".*" is not a host`),
      bad,
    );
  }
});

Deno.test("checkResolvedAddresses: every answer must be public; the first bad one is named", () => {
  const t = targetOf("https://hooks.example.com/");
  assert.deepEqual(
    checkResolvedAddresses(t, ["93.184.215.14", "2606:2800:21f:cb07::1"], STRICT_POLICY),
    {
      ok: true,
      value: ["93.184.215.14", "2606:2800:21f:cb07::1"],
    },
  );
  assert.deepEqual(checkResolvedAddresses(t, ["93.184.215.14", "10.0.0.7"], STRICT_POLICY), {
    ok: false,
    reason: "host hooks.example.com: address 10.0.0.7 is private (10.0.0.0/8)",
  });
  assert.deepEqual(checkResolvedAddresses(t, ["::ffff:169.254.169.254"], STRICT_POLICY), {
    ok: false,
    reason:
      "host hooks.example.com: address ::ffff:169.254.169.254 is a cloud metadata service (IPv4-mapped 169.254.169.254, 169.254.169.254/32)",
  });
  assert.deepEqual(checkResolvedAddresses(t, [], STRICT_POLICY), {
    ok: false,
    reason: "cannot resolve host hooks.example.com: no A or AAAA records",
  });
  assert.equal(checkResolvedAddresses(t, ["not-an-ip"], STRICT_POLICY).ok, false);
});

Deno.test("checkResolvedAddresses: allowed ranges admit answers; allow-listed hosts are trusted", () => {
  const range = allow("10.1.0.0/16");
  const t = targetOf("https://receiver.example.com/", range);
  assert.equal(checkResolvedAddresses(t, ["10.1.0.9"], range).ok, true);
  assert.equal(checkResolvedAddresses(t, ["10.2.0.9"], range).ok, false);
  const named = allow("receiver.example.com");
  const trusted = targetOf("http://receiver.example.com/", named);
  assert.equal(checkResolvedAddresses(trusted, ["10.9.9.9"], named).ok, true);
});
