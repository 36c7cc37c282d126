import assert from "node:assert/strict";
import {
  type AddressKind,
  classifyAddress,
  describeAddress,
  inCidr,
  parseCidr,
  parseIp,
  parseIPv4,
  parseIPv6,
} from "./address.ts";

function kindOf(address: string): AddressKind {
  const c = classifyAddress(address);
  assert.ok(c, `${address} should parse`);
  return c.kind;
}

function assertKinds(cases: [string, AddressKind][]) {
  for (const [address, kind] of cases) assert.equal(kindOf(address), kind, address);
}

Deno.test("parseIPv4 reads dotted decimal only", () => {
  assert.deepEqual(Array.from(parseIPv4("192.0.2.255")!), [192, 0, 2, 255]);
  assert.deepEqual(Array.from(parseIPv4("0.0.0.0")!), [0, 0, 0, 0]);
  for (
    const bad of [
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "0x7f.0.0.1",
      "0x7f000001",
      "2130706433",
      "1.2.3.-4",
      " 1.2.3.4",
      "",
    ]
  ) {
    assert.equal(parseIPv4(bad), null, bad);
  }
});

Deno.test("parseIPv6 reads every RFC 4291 text form and refuses zones and malformed input", () => {
  const hex = (b: Uint8Array | null) => b && Array.from(b, (x) => x.toString(16)).join(",");
  assert.equal(hex(parseIPv6("::1")), "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1");
  assert.equal(hex(parseIPv6("0:0:0:0:0:0:0:1")), hex(parseIPv6("::1")));
  assert.equal(hex(parseIPv6("::")), "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
  assert.equal(hex(parseIPv6("::ffff:127.0.0.1")), hex(parseIPv6("::ffff:7f00:1")));
  assert.equal(hex(parseIPv6("FE80::1")), hex(parseIPv6("fe80:0:0:0:0:0:0:1")));
  assert.equal(hex(parseIPv6("1::")), "0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
  for (
    const bad of [
      "::1%eth0",
      ":::1",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "::ffff:1.2.3",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "g::1",
      "",
    ]
  ) {
    assert.equal(parseIPv6(bad), null, bad);
  }
});

Deno.test("parseIp takes IPv6 with or without brackets, and only addresses", () => {
  assert.equal(parseIp("[::1]")?.length, 16);
  assert.equal(parseIp("::1")?.length, 16);
  assert.equal(parseIp("10.0.0.1")?.length, 4);
  assert.equal(parseIp("localhost"), null);
  assert.equal(parseIp("[10.0.0.1]"), null);
});

Deno.test("parseCidr reads ranges, makes a bare address its own /32 or /128, refuses host bits", () => {
  const r = parseCidr("10.0.0.0/8")!;
  assert.equal(r.prefix, 8);
  assert.ok(inCidr(parseIp("10.255.255.255")!, r));
  assert.ok(!inCidr(parseIp("11.0.0.0")!, r));
  assert.ok(!inCidr(parseIp("::a00:1")!, r), "an IPv6 address is never in an IPv4 range");
  assert.equal(parseCidr("127.0.0.1")!.prefix, 32);
  assert.equal(parseCidr("::1")!.prefix, 128);
  assert.ok(inCidr(parseIp("fd12::1")!, parseCidr("fc00::/7")!));
  assert.ok(inCidr(parseIp("1.2.3.4")!, parseCidr("0.0.0.0/0")!));
  for (const bad of ["10.1.0.0/8", "10.0.0.0/33", "::/129", "abc/8", "10.0.0.0/08", "1/2/3"]) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

Deno.test("classifyAddress: IPv4 special-purpose ranges, checked at their edges", () => {
  assertKinds([
    ["0.0.0.0", "unspecified"],
    ["0.255.255.255", "unspecified"],
    ["1.0.0.0", "public"],
    ["9.255.255.255", "public"],
    ["10.0.0.0", "private"],
    ["10.255.255.255", "private"],
    ["11.0.0.0", "public"],
    ["100.63.255.255", "public"],
    ["100.64.0.0", "shared"],
    ["100.127.255.255", "shared"],
    ["100.128.0.0", "public"],
    ["126.255.255.255", "public"],
    ["127.0.0.0", "loopback"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.255", "loopback"],
    ["128.0.0.0", "public"],
    ["169.253.255.255", "public"],
    ["169.254.0.0", "link-local"],
    ["169.254.255.255", "link-local"],
    ["169.255.0.0", "public"],
    ["172.15.255.255", "public"],
    ["172.16.0.0", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.0", "public"],
    ["192.0.0.1", "reserved"],
    ["192.0.1.0", "public"],
    ["192.0.2.1", "documentation"],
    ["192.88.99.1", "reserved"],
    ["192.167.255.255", "public"],
    ["192.168.0.0", "private"],
    ["192.168.255.255", "private"],
    ["192.169.0.0", "public"],
    ["198.17.255.255", "public"],
    ["198.18.0.0", "benchmarking"],
    ["198.19.255.255", "benchmarking"],
    ["198.20.0.0", "public"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.7", "documentation"],
    ["223.255.255.255", "public"],
    ["224.0.0.0", "multicast"],
    ["239.255.255.255", "multicast"],
    ["240.0.0.0", "reserved"],
    ["255.255.255.254", "reserved"],
    ["255.255.255.255", "broadcast"],
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
  ]);
});

Deno.test("classifyAddress: cloud metadata addresses are named as such, not just link-local", () => {
  assertKinds([
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["100.100.100.200", "metadata"],
    ["192.0.0.192", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["::ffff:169.254.169.254", "metadata"],
  ]);
  assert.equal(
    describeAddress(classifyAddress("169.254.169.254")!),
    "address 169.254.169.254 is a cloud metadata service (169.254.169.254/32)",
  );
});

Deno.test("classifyAddress: IPv6 special-purpose ranges; only 2000::/3 can be public", () => {
  assertKinds([
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["fe80::1", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fec0::1", "reserved"],
    ["fc00::1", "unique-local"],
    ["fd12:3456:789a::1", "unique-local"],
    ["fdff:ffff::1", "unique-local"],
    ["ff02::1", "multicast"],
    ["ff0e::1", "multicast"],
    ["2001:db8::1", "documentation"],
    ["3fff::1", "documentation"],
    ["2001::1", "reserved"], // Teredo
    ["2001:2::1", "reserved"], // benchmarking
    ["100::1", "reserved"],
    ["64:ff9b:1::1", "reserved"],
    ["5f00::1", "reserved"],
    ["4000::1", "reserved"],
    ["e000::1", "reserved"],
    ["1::1", "reserved"],
    ["2606:4700:4700::1111", "public"],
    ["2a00:1450:4001:81b::200e", "public"],
    ["2001:4860:4860::8888", "public"],
  ]);
});

Deno.test("classifyAddress: IPv6 forms carrying an IPv4 address are judged by that address", () => {
  assertKinds([
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:192.168.1.1", "private"],
    ["::ffff:100.64.0.1", "shared"],
    ["::ffff:0.0.0.0", "unspecified"],
    ["::ffff:8.8.8.8", "public"],
    ["::127.0.0.1", "loopback"], // IPv4-compatible
    ["::7f00:1", "loopback"],
    ["::8.8.8.8", "reserved"], // deprecated form, even for a public address
    ["::ffff:0:127.0.0.1", "loopback"], // IPv4-translated
    ["::ffff:0:8.8.8.8", "reserved"],
    ["64:ff9b::127.0.0.1", "loopback"], // NAT64
    ["64:ff9b::a9fe:a9fe", "metadata"],
    ["64:ff9b::8.8.8.8", "public"],
    ["2002:7f00:1::", "loopback"], // 6to4
    ["2002:c0a8:101::1", "private"],
    ["2002:808:808::", "reserved"],
  ]);
  assert.deepEqual(classifyAddress("::ffff:7f00:1"), {
    address: "::ffff:7f00:1",
    kind: "loopback",
    range: "127.0.0.0/8",
    via: "IPv4-mapped 127.0.0.1",
  });
  assert.equal(
    describeAddress(classifyAddress("64:ff9b::a00:1")!),
    "address 64:ff9b::a00:1 is private (NAT64 10.0.0.1, 10.0.0.0/8)",
  );
});

Deno.test("classifyAddress returns null for what is not an address", () => {
  for (const text of ["localhost", "0x7f000001", "2130706433", "127.1", "example.com", ""]) {
    assert.equal(classifyAddress(text), null, text);
  }
});

Deno.test("describeAddress says what and which range, for the stored reason", () => {
  assert.equal(
    describeAddress(classifyAddress("127.0.0.1")!),
    "address 127.0.0.1 is loopback (127.0.0.0/8)",
  );
  assert.equal(
    describeAddress(classifyAddress("100.64.1.1")!),
    "address 100.64.1.1 is shared address space (CGNAT) (100.64.0.0/10)",
  );
  assert.equal(describeAddress(classifyAddress("8.8.8.8")!), "address 8.8.8.8 is public");
});
