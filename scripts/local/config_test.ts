import assert from "node:assert/strict";
import { freePortOffset, stackPorts } from "./config.ts";

// Offsets far from the test and bench stacks' (+1000 … +2400), so a running stack is not hit.
const A = 9000;
const B = 9100;

Deno.test("freePortOffset skips an offset one of whose ports is held, and says so", () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: stackPorts(A)[1] });
  const lines: string[] = [];
  try {
    const offset = freePortOffset({
      variable: "STAGECOACH_FREE_PORT_OFFSET_TEST",
      candidates: [A, B],
      log: (line) => lines.push(line),
    });
    assert.deepEqual(offset, B);
    assert.deepEqual(lines, [
      `ports ${stackPorts(A)[1]} (+${A}) are in use; trying the next offset`,
    ]);
  } finally {
    held.close();
  }
});

Deno.test("freePortOffset refuses a pinned offset whose ports are held, naming them", () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: stackPorts(A)[0] });
  Deno.env.set("STAGECOACH_FREE_PORT_OFFSET_TEST", String(A));
  try {
    assert.throws(
      () => freePortOffset({ variable: "STAGECOACH_FREE_PORT_OFFSET_TEST", candidates: [B] }),
      {
        message: `STAGECOACH_FREE_PORT_OFFSET_TEST=${A}: ports ${
          stackPorts(A)[0]
        } are in use; choose another`,
      },
    );
  } finally {
    Deno.env.delete("STAGECOACH_FREE_PORT_OFFSET_TEST");
    held.close();
  }
});
