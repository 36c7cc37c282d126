import assert from "node:assert/strict";
import { createProgress, formatDuration, formatProgress } from "./progress.ts";

Deno.test("formatDuration prints m:ss and h:mm:ss", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(75_000), "1:15");
  assert.equal(formatDuration(3_725_000), "1:02:05");
});

Deno.test("formatProgress shows counts, percent, rate and ETA, with a bar when asked", () => {
  const state = { label: "copy", done: 50, total: 200, rate: 25, elapsedMs: 2000 };
  assert.equal(formatProgress(state), "copy: 50 / 200 rows (25 %), 25 rows/s, ETA 0:06");
  assert.equal(
    formatProgress(state, { barWidth: 8 }),
    "copy: [##------] 50 / 200 rows (25 %), 25 rows/s, ETA 0:06",
  );
  assert.equal(
    formatProgress({ ...state, total: null, rate: null }),
    "copy: 50 rows, elapsed 0:02",
  );
});

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

Deno.test("a plain reporter writes a line per interval and a summary at the end", () => {
  const out: string[] = [];
  const c = clock();
  const p = createProgress({
    label: "copy",
    total: 100,
    terminal: false,
    write: (s) => out.push(s),
    intervalMs: 1000,
    now: c.now,
  });
  c.advance(500);
  p.update(10); // first line
  c.advance(200);
  p.update(20); // within the interval: nothing
  c.advance(1000);
  p.update(40);
  p.log("note");
  c.advance(300);
  p.update(100);
  p.finish();
  assert.deepEqual(out, [
    "copy: 10 / 100 rows (10 %), 20 rows/s, ETA 0:05\n",
    "copy: 40 / 100 rows (40 %), 24 rows/s, ETA 0:03\n",
    "note\n",
    "copy: 100 rows in 0:02 (50 rows/s)\n",
  ]);
  assert.ok(out.every((s) => !s.includes("\r")), "no carriage returns in plain output");
});

Deno.test("a terminal reporter redraws one line and keeps log lines above it", () => {
  const out: string[] = [];
  const c = clock();
  const p = createProgress({
    label: "copy",
    total: 4,
    terminal: true,
    write: (s) => out.push(s),
    now: c.now,
  });
  c.advance(1000);
  p.update(1);
  p.log("hello");
  c.advance(1000);
  p.update(4);
  p.finish("done");
  assert.ok(out[0].startsWith("\rcopy: [######------------------] 1 / 4 rows (25 %)"), out[0]);
  assert.ok(out[0].endsWith(", 1 rows/s, ETA 0:03\x1b[K"), out[0]);
  assert.equal(out[1], "\r\x1b[Khello\n");
  assert.match(out[2], /^\rcopy: \[#+-+\] 1 \/ 4/);
  assert.match(out[3], /^\rcopy: \[#{24}\] 4 \/ 4 rows \(100 %\)/);
  assert.equal(out[4], "\rdone\x1b[K\n");
});
