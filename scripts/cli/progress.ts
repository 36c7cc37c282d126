/**
 * Progress for long CLI commands: on a terminal, one redrawn line with a bar, rows/s and ETA;
 * otherwise (CI logs, pipes) a plain line every few seconds and one at the end. Every long
 * command reports through {@link createProgress}; job commands through `job_command.ts`, which
 * feeds it from every checkpoint.
 *
 * The formatting is pure ({@link formatProgress}); the reporter only decides when to write.
 *
 * @module
 */

/** What a reporter knows at one moment. */
export interface ProgressState {
  label: string;
  done: number;
  /** Expected total, or null when unknown (no bar, no ETA). */
  total: number | null;
  /** Rows per second over the recent window, or null before two samples. */
  rate: number | null;
  elapsedMs: number;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** What is being done, e.g. `users copy production → staging`. */
  label: string;
  total?: number | null;
  /** Unit shown after the numbers, default `rows`. */
  unit?: string;
  /** Draw a redrawn bar (true) or plain lines (false); default: whether stdout is a terminal. */
  terminal?: boolean;
  /** Where text goes; default stdout. */
  write?: (text: string) => void;
  /** Terminal width for the bar line, default 100. */
  columns?: number;
  /** Minimum time between plain lines, default 5 s; between redraws, 100 ms. */
  intervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** A progress reporter. */
export interface ProgressReporter {
  /** Sets the absolute amount done (and optionally a new total or label). */
  update(done: number, opts?: { total?: number | null; label?: string }): void;
  /** Prints a line without breaking the bar. */
  log(line: string): void;
  /** Draws the final state and ends the bar's line. */
  finish(summary?: string): void;
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");

/**
 * Formats a duration as `m:ss` or `h:mm:ss`.
 *
 * @example
 * ```ts
 * formatDuration(75_000); // "1:15"
 * ```
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * Formats one progress line: a bar (when `barWidth` > 0 and the total is known), the counts,
 * percent, rate and ETA.
 *
 * @example
 * ```ts
 * formatProgress({ label: "copy", done: 50, total: 200, rate: 25, elapsedMs: 2000 }, { unit: "rows" });
 * // "copy: 50 / 200 rows (25 %), 25 rows/s, ETA 0:06"
 * ```
 */
export function formatProgress(
  state: ProgressState,
  opts: { unit?: string; barWidth?: number } = {},
): string {
  const unit = opts.unit ?? "rows";
  const parts: string[] = [];
  const total = state.total;
  const fraction = total ? Math.min(1, state.done / total) : null;
  let bar = "";
  if (opts.barWidth && fraction !== null) {
    const filled = Math.round(fraction * opts.barWidth);
    bar = `[${"#".repeat(filled)}${"-".repeat(opts.barWidth - filled)}] `;
  }
  parts.push(
    total
      ? `${fmtInt(state.done)} / ${fmtInt(total)} ${unit} (${Math.floor(fraction! * 100)} %)`
      : `${fmtInt(state.done)} ${unit}`,
  );
  if (state.rate !== null) parts.push(`${fmtInt(state.rate)} ${unit}/s`);
  if (state.rate && total && state.done < total) {
    parts.push(`ETA ${formatDuration(((total - state.done) / state.rate) * 1000)}`);
  } else parts.push(`elapsed ${formatDuration(state.elapsedMs)}`);
  return `${state.label}: ${bar}${parts.join(", ")}`;
}

/**
 * Creates a reporter for one long operation.
 *
 * @example
 * ```ts
 * const progress = createProgress({ label: "users copy", total: 1_000_000 });
 * progress.update(250_000);
 * progress.finish("copied 1,000,000 rows");
 * ```
 */
export function createProgress(opts: ProgressOptions): ProgressReporter {
  const now = opts.now ?? (() => performance.now());
  const terminal = opts.terminal ?? Deno.stdout.isTerminal();
  const encoder = new TextEncoder();
  const write = opts.write ?? ((text: string) => Deno.stdout.writeSync(encoder.encode(text)));
  const interval = opts.intervalMs ?? (terminal ? 100 : 5_000);
  const columns = opts.columns ?? 100;
  const start = now();
  let label = opts.label;
  let total = opts.total ?? null;
  let done = 0;
  let lastDraw = -Infinity;
  let drawn = false;
  // Samples over the last ~10 s give a rate that follows changes but does not jitter.
  const samples: { t: number; done: number }[] = [{ t: start, done: 0 }];

  function rate(): number | null {
    const first = samples[0];
    const last = samples[samples.length - 1];
    const dt = (last.t - first.t) / 1000;
    return samples.length < 2 || dt <= 0 ? null : (last.done - first.done) / dt;
  }

  function line(barWidth: number): string {
    return formatProgress(
      { label, done, total, rate: rate(), elapsedMs: now() - start },
      { unit: opts.unit, barWidth },
    );
  }

  function draw(force: boolean): void {
    const t = now();
    if (!force && t - lastDraw < interval) return;
    lastDraw = t;
    if (terminal) {
      const text = line(24).slice(0, columns - 1);
      write(`\r${text}\x1b[K`);
      drawn = true;
    } else write(`${line(0)}\n`);
  }

  return {
    update(value, more) {
      done = value;
      if (more?.total !== undefined) total = more.total;
      if (more?.label !== undefined) label = more.label;
      const t = now();
      samples.push({ t, done });
      while (samples.length > 2 && t - samples[0].t > 10_000) samples.shift();
      draw(false);
    },
    log(text) {
      if (terminal && drawn) write(`\r\x1b[K${text}\n`);
      else write(`${text}\n`);
      if (terminal && drawn) draw(true);
    },
    finish(summary) {
      const elapsed = now() - start;
      const avg = elapsed > 0 ? (done / elapsed) * 1000 : 0;
      const end = summary ??
        `${label}: ${fmtInt(done)} ${opts.unit ?? "rows"} in ${formatDuration(elapsed)} (${
          fmtInt(avg)
        } ${opts.unit ?? "rows"}/s)`;
      if (terminal) write(`\r${end}\x1b[K\n`);
      else write(`${end}\n`);
    },
  };
}
