import assert from "node:assert/strict";
import { join } from "node:path";
import { hostedServe, LISTENING_PREFIX } from "./function_host.ts";

const HOST = new URL("./function_host.ts", import.meta.url).pathname;
function ok(): Response {
  return new Response("ok");
}

Deno.test("hostedServe accepts a handler alone", () => {
  const { options, handler } = hostedServe([ok], () => {});
  assert.equal(handler, ok);
  assert.equal(options.hostname, "127.0.0.1");
  assert.equal(options.port, 0);
});

Deno.test("hostedServe accepts options plus a handler and overrides the port", () => {
  const { options, handler } = hostedServe([{ port: 8000, hostname: "0.0.0.0" }, ok], () => {});
  assert.equal(handler, ok);
  assert.equal(options.port, 0);
  assert.equal(options.hostname, "127.0.0.1");
});

Deno.test("hostedServe accepts options carrying the handler and keeps their onListen", () => {
  const seen: number[] = [];
  const { options, handler } = hostedServe(
    [{ handler: ok, onListen: (addr: Deno.NetAddr) => seen.push(addr.port + 1) }],
    (port) => seen.push(port),
  );
  assert.equal(handler, ok);
  assert.equal("handler" in options, false);
  options.onListen?.({ transport: "tcp", hostname: "127.0.0.1", port: 41000 });
  assert.deepEqual(seen, [41000, 41001]);
});

Deno.test("hostedServe refuses a call without a handler", () => {
  assert.throws(() => hostedServe([{ port: 1 }], () => {}), /without a handler/);
  assert.throws(() => hostedServe([], () => {}), /without a handler/);
});

async function runHosted(source: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const dir = await Deno.makeTempDir();
  const entry = join(dir, "index.ts");
  await Deno.writeTextFile(entry, source);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", HOST, entry],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  while (!buffered.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
  }
  const first = buffered.split("\n")[0];
  const stop = async () => {
    child.kill("SIGTERM");
    await lines.cancel();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  if (!first.startsWith(LISTENING_PREFIX)) {
    await stop();
    throw new Error(`expected a LISTENING line, got ${JSON.stringify(first)}`);
  }
  return { port: Number(first.slice(LISTENING_PREFIX.length)), stop };
}

for (
  const [overload, source] of [
    ["a handler", `Deno.serve((req) => new Response(new URL(req.url).pathname));`],
    [
      "options and a handler",
      `Deno.serve({ port: 9 }, (req) => new Response(new URL(req.url).pathname));`,
    ],
    [
      "options with a handler",
      `Deno.serve({ handler: (req) => new Response(new URL(req.url).pathname) });`,
    ],
  ]
) {
  Deno.test(`function host prints LISTENING and serves a function calling Deno.serve with ${overload}`, async () => {
    const { port, stop } = await runHosted(source);
    try {
      assert.ok(port > 0);
      const res = await fetch(`http://127.0.0.1:${port}/fn/path`);
      assert.equal(await res.text(), "/fn/path");
    } finally {
      await stop();
    }
  });
}

Deno.test("function host exits non-zero when the entry fails to import", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const entry = join(dir, "index.ts");
    await Deno.writeTextFile(entry, `throw new Error("boom");`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", HOST, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /Cannot boot function .*boom/s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
