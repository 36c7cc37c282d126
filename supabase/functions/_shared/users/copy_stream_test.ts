/**
 * COPY streaming between two databases of the running stack (production → staging), in temp
 * tables: rows arrive, failures on either side roll back cleanly, and both connections stay
 * usable afterwards (the postgres.js paused-socket and lost-COPY-error cases).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import { streamCopy } from "./copy_stream.ts";

function pools() {
  return {
    source: postgres(localEnv("production").dbUrl, { max: 1, onnotice: () => {} }),
    target: postgres(localEnv("staging").dbUrl, { max: 1, onnotice: () => {} }),
  };
}

async function move(
  source: postgres.Sql,
  target: postgres.Sql,
  select: string,
): Promise<number> {
  return await source.begin(async (stx) =>
    await target.begin(async (ttx) => {
      await ttx`create temp table sink (n int not null, t text) on commit drop`;
      const rows = await streamCopy(stx, ttx, {
        copyOut: `copy (${select}) to stdout`,
        copyIn: "copy sink (n, t) from stdin",
      });
      const [{ c }] = await ttx`select count(*)::int as c from sink`;
      assert.equal(c, rows);
      return rows;
    })
  );
}

Deno.test("streamCopy moves every row, from none to many, and the connections stay usable", async () => {
  const { source, target } = pools();
  try {
    for (const n of [0, 1, 50_000]) {
      const rows = await move(
        source,
        target,
        `select g, repeat('x', g % 300) from generate_series(1, ${n}) as g`,
      );
      assert.equal(rows, n);
      // One connection each: a paused socket or a lingering COPY would hang these.
      assert.equal((await source`select 1 as one`)[0].one, 1);
      assert.equal((await target`select 1 as one`)[0].one, 1);
    }
  } finally {
    await source.end();
    await target.end();
  }
});

Deno.test("a target failure mid-stream rolls back and reports the target's error", async () => {
  const { source, target } = pools();
  try {
    await assert.rejects(
      move(
        source,
        target,
        `select case when g = 30000 then null else g end, 'x' from generate_series(1, 40000) as g`,
      ),
      /null value in column "n"/,
    );
    assert.equal((await source`select 1 as one`)[0].one, 1);
    assert.equal((await target`select 1 as one`)[0].one, 1);
  } finally {
    await source.end();
    await target.end();
  }
});

Deno.test("a source failure mid-stream aborts the target's COPY and rolls back", async () => {
  const { source, target } = pools();
  try {
    await assert.rejects(
      move(source, target, `select 1 / (30000 - g), 'x' from generate_series(1, 40000) as g`),
      /division by zero/,
    );
    assert.equal((await source`select 1 as one`)[0].one, 1);
    assert.equal((await target`select 1 as one`)[0].one, 1);
  } finally {
    await source.end();
    await target.end();
  }
});
