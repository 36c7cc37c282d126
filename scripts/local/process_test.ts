import assert from "node:assert/strict";
import { join } from "node:path";
import { waitFor } from "./process.ts";

Deno.test("waitFor names the last line of the process's log when it gives up", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const logFile = join(dir, "management.log");
    await Deno.writeTextFile(
      logFile,
      "starting\nmanagement: Address already in use (os error 98)\n",
    );
    await assert.rejects(
      () => waitFor("the Management API", () => Promise.resolve(false), { timeoutMs: 50, logFile }),
      /not ready after 50 ms \(last log line of .*management\.log: management: Address already in use \(os error 98\)\)/,
    );
    await assert.rejects(
      () => waitFor("x", () => Promise.resolve(false), { timeoutMs: 10 }),
      (e: Error) => e.message === "Cannot start x: not ready after 10 ms",
    );
    await waitFor("y", () => Promise.resolve(true), { timeoutMs: 10 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
