import assert from "node:assert/strict";
import { join } from "node:path";
import { createFunctionPool } from "./gateway_processes.ts";

const FUNCTION = `
console.log("booting", Deno.env.get("GREETING"));
Deno.serve(async (req) => {
  const url = new URL(req.url);
  if (url.pathname.endsWith("/crash")) setTimeout(() => Deno.exit(3), 10);
  return new Response(url.pathname + " " + Deno.env.get("GREETING") + " " + Deno.pid);
});
`;

async function withFunctions(
  files: Record<string, string>,
  run: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, source] of Object.entries(files)) {
      await Deno.mkdir(join(dir, name));
      await Deno.writeTextFile(join(dir, name, "index.ts"), source);
    }
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { ...Deno.env.toObject(), ...extra };
}

Deno.test("function pool starts a function with its env and prefixes its output", async () => {
  await withFunctions({ hello: FUNCTION }, async (dir) => {
    const lines: string[] = [];
    const pool = createFunctionPool([{ name: "hello", entry: join(dir, "hello", "index.ts") }], {
      env: baseEnv({ GREETING: "hi" }),
      cwd: dir,
      log: (name, stream, line) => lines.push(`${stream} [${name}] ${line}`),
    });
    try {
      await pool.startAll();
      const base = await pool.resolve("hello");
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      const text = await (await fetch(`${base}/hello/x`)).text();
      assert.match(text, /^\/hello\/x hi \d+$/);
      assert.ok(lines.includes("stdout [hello] booting hi"), lines.join("\n"));
    } finally {
      await pool.stop();
    }
  });
});

Deno.test("function pool restarts a crashed function on the next request", async () => {
  await withFunctions({ hello: FUNCTION }, async (dir) => {
    const pool = createFunctionPool([{ name: "hello", entry: join(dir, "hello", "index.ts") }], {
      env: baseEnv({ GREETING: "hi" }),
      cwd: dir,
      log: () => {},
    });
    try {
      const first = await pool.resolve("hello");
      const pid1 = (await (await fetch(`${first}/hello/crash`)).text()).split(" ")[2];
      // Wait for the process to go away.
      for (let i = 0; i < 100; i++) {
        try {
          await (await fetch(`${first}/hello/ping`)).text();
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 50));
      const second = await pool.resolve("hello");
      const pid2 = (await (await fetch(`${second}/hello/ping`)).text()).split(" ")[2];
      assert.notEqual(pid2, pid1);
    } finally {
      await pool.stop();
    }
  });
});

Deno.test("function pool rejects with the exit code when a function cannot boot", async () => {
  await withFunctions({ broken: `throw new Error("no boot");` }, async (dir) => {
    const logged: string[] = [];
    const pool = createFunctionPool(
      [{ name: "broken", entry: join(dir, "broken", "index.ts") }],
      { env: baseEnv({}), cwd: dir, log: (_n, _s, line) => logged.push(line) },
    );
    try {
      await pool.startAll();
      assert.ok(logged.some((l) => l.startsWith("Cannot start function: it exited with code 1")));
      await assert.rejects(pool.resolve("broken"), /exited with code 1 before listening/);
    } finally {
      await pool.stop();
    }
  });
});

Deno.test("function pool stop ends every child", async () => {
  await withFunctions({ a: FUNCTION, b: FUNCTION }, async (dir) => {
    const pool = createFunctionPool([
      { name: "a", entry: join(dir, "a", "index.ts") },
      { name: "b", entry: join(dir, "b", "index.ts") },
    ], { env: baseEnv({}), cwd: dir, log: () => {} });
    await pool.startAll();
    const bases = await Promise.all([pool.resolve("a"), pool.resolve("b")]);
    await pool.stop();
    for (const base of bases) {
      await assert.rejects(fetch(`${base}/a`));
    }
    await assert.rejects(pool.resolve("a"), /the gateway is stopping/);
  });
});

Deno.test("function pool replaces a function with its new version and new environment", async () => {
  await withFunctions(
    { v1: FUNCTION, v2: FUNCTION.replace("+ Deno.pid", '+ "v2"') },
    async (dir) => {
      const pool = createFunctionPool([{ name: "hello", entry: join(dir, "v1", "index.ts") }], {
        env: baseEnv({ GREETING: "hi" }),
        cwd: dir,
        log: () => {},
        retireGraceMs: 10,
      });
      try {
        await pool.startAll();
        const first = await (await fetch(`${await pool.resolve("hello")}/hello`)).text();
        assert.match(first, /^\/hello hi \d+$/);
        pool.replace(
          [{ name: "hello", entry: join(dir, "v2", "index.ts"), cwd: join(dir, "v2") }],
          baseEnv({ GREETING: "hello" }),
        );
        assert.equal(
          await (await fetch(`${await pool.resolve("hello")}/hello`)).text(),
          "/hello hello v2",
        );
        pool.replace([], baseEnv({}));
        await assert.rejects(async () => await pool.resolve("hello"), /not in the pool/);
      } finally {
        await pool.stop();
      }
    },
  );
});
