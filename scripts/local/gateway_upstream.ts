/**
 * The gateway's hop to a function process: a small HTTP/1.1 client over kept-alive TCP
 * connections, written for this one hop because it is most of what the gateway adds to a
 * request. Measured on Deno 2.9.6 (2 cores, loopback), `fetch` spends about 150-200 µs of CPU
 * per request in the calling process, a plain write/read on a kept-alive `Deno.TcpConn` about
 * 50-60 µs.
 *
 * What it sends: the method, the target (raw path and query) as given, the headers as given
 * minus the hop-by-hop ones, `host` and `content-length` (it writes `host: <hostname>:<port>`
 * and the framing itself), then the body bytes untouched: a whole body with its
 * `content-length`, a stream of known length with its `content-length`, any other stream
 * chunked.
 *
 * What it answers: a `Response` with the upstream status and headers minus the hop-by-hop
 * ones, and the body bytes untouched (nothing is decompressed): read whole when the upstream
 * declares a `content-length` of at most `maxBufferedBytes`, streamed otherwise (chunked
 * answers such as server-sent events, large or close-delimited bodies); no body for `HEAD`,
 * 204 and 304. Interim 1xx answers (`100 Continue`) are skipped.
 *
 * A request that finds a reused connection closed before any byte of the answer (the function
 * exited, or closed an idle connection) is sent once more on a new connection when its body
 * can be sent again; a new connection that fails is reported to the caller.
 *
 * @module
 */

/** Headers that describe one hop: never forwarded, in either direction. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** One request to a function process. */
export interface UpstreamRequest {
  /** The request method, e.g. `POST`. */
  method: string;
  /** The request target: the raw (percent-encoded) path and the query, e.g. `/ops/x?y=1`. */
  target: string;
  /**
   * The incoming headers (a `Headers`, or pairs as valid as a `Headers` holds them); hop-by-hop
   * ones, `host` and `content-length` are left out.
   */
  headers: Iterable<[string, string]>;
  /** No body, the whole body, or a stream of it. */
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** The declared length of a streamed body; a stream without one is sent chunked. */
  bodyLength?: number;
}

/** Sends one request to the function listening at `base` (`http://127.0.0.1:<port>`). */
export type UpstreamSend = (base: string, request: UpstreamRequest) => Promise<Response>;

/** Options of {@link createUpstreamClient}. */
export interface UpstreamClientOptions {
  /** Answers declaring a `content-length` up to this are read whole; default 1 MiB. */
  maxBufferedBytes?: number;
  /** Idle connections kept per function; default 64. */
  maxIdlePerUpstream?: number;
}

/** A pool of kept-alive connections to function processes. */
export interface UpstreamClient {
  /** Sends a request; rejects when the function cannot be reached or answers garbage. */
  send: UpstreamSend;
  /** Closes the idle connections; connections in use close once their answer is read. */
  close(): void;
}

/** Default of {@link UpstreamClientOptions.maxBufferedBytes}. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

const MAX_HEAD_BYTES = 64 * 1024;
const STREAM_CHUNK_BYTES = 64 * 1024;
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const ascii = new TextDecoder();
const encoder = new TextEncoder();

/** The connection ended before a complete answer; `answered` says whether any byte came. */
class UpstreamClosedError extends Error {
  constructor(readonly answered: boolean) {
    super(
      answered
        ? "Cannot read the answer: the connection closed in the middle of it"
        : "Cannot read the answer: the connection closed before any byte of it",
    );
    this.name = "UpstreamClosedError";
  }
}

interface Upstream {
  hostname: string;
  port: number;
  host: string;
  idle: Connection[];
}

/** One TCP connection and the bytes read from it but not consumed yet. */
class Connection {
  buf = new Uint8Array(16 * 1024);
  start = 0;
  end = 0;
  /** Whether it already carried a request (so a close may just mean it went stale). */
  reused = false;
  /** Whether any byte of the current answer was read. */
  answered = false;
  closed = false;

  constructor(readonly conn: Deno.TcpConn) {}

  /** Reads more bytes after the unconsumed ones; false at end of stream. */
  async fill(): Promise<boolean> {
    if (this.start === this.end) {
      this.start = this.end = 0;
    } else if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf);
        this.buf = bigger;
      }
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.buf.subarray(this.end));
    } catch (err) {
      // A reset is a close for retry purposes; anything else is reported as it is.
      if (err instanceof Deno.errors.ConnectionReset) n = null;
      else throw err;
    }
    if (n === null) return false;
    this.end += n;
    this.answered = true;
    return true;
  }

  /** Takes up to `max` bytes: the buffered ones first, else one read straight into a copy. */
  async take(max: number): Promise<Uint8Array | null> {
    if (this.start < this.end) {
      const n = Math.min(max, this.end - this.start);
      const out = this.buf.slice(this.start, this.start + n);
      this.start += n;
      return out;
    }
    const out = new Uint8Array(Math.min(max, STREAM_CHUNK_BYTES));
    const n = await this.conn.read(out);
    return n === null ? null : out.subarray(0, n);
  }

  /** Reads one CRLF-terminated line (without the CRLF). */
  async line(): Promise<string> {
    let from = this.start;
    for (;;) {
      const lf = this.buf.subarray(from, this.end).indexOf(10);
      if (lf >= 0) {
        const at = from + lf;
        const text = latin1(
          this.buf,
          this.start,
          at > this.start && this.buf[at - 1] === 13 ? at - 1 : at,
        );
        this.start = at + 1;
        return text;
      }
      if (this.end - this.start > MAX_HEAD_BYTES) {
        throw new Error("Cannot read the answer: a chunk line is longer than 64 KiB");
      }
      const scanned = this.end - this.start;
      if (!(await this.fill())) throw new UpstreamClosedError(true);
      from = this.start + scanned;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * Creates the client the gateway forwards with.
 *
 * @param opts buffering limit and idle pool size
 * @returns the client; {@link UpstreamClient.close} it when done (tests, shutdown)
 * @example
 * ```ts
 * const client = createUpstreamClient();
 * const res = await client.send("http://127.0.0.1:40123", {
 *   method: "POST",
 *   target: "/stripe-webhook",
 *   headers: request.headers,
 *   body: new Uint8Array(await request.arrayBuffer()),
 * });
 * ```
 */
export function createUpstreamClient(opts: UpstreamClientOptions = {}): UpstreamClient {
  const maxBuffered = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const maxIdle = opts.maxIdlePerUpstream ?? 64;
  const upstreams = new Map<string, Upstream>();
  let closed = false;

  function upstreamOf(base: string): Upstream {
    let upstream = upstreams.get(base);
    if (!upstream) {
      const url = new URL(base);
      if (url.protocol !== "http:") {
        throw new Error(`Cannot send to ${base}: only http:// upstreams are supported`);
      }
      const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
      const port = Number(url.port || "80");
      upstream = { hostname, port, host: url.host, idle: [] };
      upstreams.set(base, upstream);
    }
    return upstream;
  }

  async function connect(upstream: Upstream): Promise<Connection> {
    const conn = await Deno.connect({ hostname: upstream.hostname, port: upstream.port });
    // Heads and chunks are separate writes; Nagle would hold the second one back.
    conn.setNoDelay(true);
    return new Connection(conn);
  }

  function release(upstream: Upstream, c: Connection): void {
    if (closed || upstream.idle.length >= maxIdle) return c.close();
    c.reused = true;
    upstream.idle.push(c);
  }

  function dropIdle(upstream: Upstream): void {
    for (const c of upstream.idle.splice(0)) c.close();
  }

  async function send(base: string, request: UpstreamRequest): Promise<Response> {
    const upstream = upstreamOf(base);
    const head = requestHead(upstream.host, request);
    const replayable = !(request.body instanceof ReadableStream);
    for (;;) {
      const c = upstream.idle.pop() ?? await connect(upstream);
      c.answered = false;
      try {
        return await exchange(upstream, c, head, request);
      } catch (err) {
        c.close();
        if (err instanceof UpstreamClosedError && !err.answered && c.reused && replayable) {
          // Its siblings are likely stale too (the function exited): start afresh.
          dropIdle(upstream);
          continue;
        }
        throw err;
      }
    }
  }

  async function exchange(
    upstream: Upstream,
    c: Connection,
    head: Uint8Array,
    request: UpstreamRequest,
  ): Promise<Response> {
    // Written while the answer is read: a function may answer before reading the whole body.
    let wrote = false;
    let writeError: unknown;
    const writing = writeRequest(c.conn, head, request.body, request.bodyLength).then(
      () => void (wrote = true),
      (err) => {
        // Once we closed the connection, a failing write is the consequence, not the cause.
        if (c.closed) return;
        writeError = err;
        // The body failed on our side (the caller's stream): no answer will come, stop waiting.
        // A closed connection shows on the reading side by itself.
        if (!isClosedError(err)) c.close();
      },
    );
    let status: number;
    let headers: [string, string][];
    let framing: Framing;
    try {
      // Interim answers (100 Continue when the caller sent `expect`) are not the answer.
      do {
        ({ status, headers, framing } = parseHead(await readHead(c)));
      } while (status < 200);
    } catch (err) {
      c.close();
      await writing;
      if (writeError !== undefined && !isClosedError(writeError)) throw writeError;
      throw err;
    }
    const done = (reusable: boolean) => {
      const clean = reusable && !framing.close && c.start === c.end;
      if (!clean) return c.close();
      // The answer can be read before the last write is known to be done (the ops complete
      // in the same turn); only a request sent whole leaves the connection ready for another.
      writing.then(() => wrote ? release(upstream, c) : c.close());
    };
    if (request.method === "HEAD" || NULL_BODY_STATUSES.has(status)) {
      done(true);
      return new Response(null, { status, headers });
    }
    if (framing.length !== undefined && framing.length <= maxBuffered) {
      const body = await readExactly(c, framing.length);
      done(true);
      return new Response(body, { status, headers });
    }
    // A body without a length is delimited by the end of the connection: no reuse after it.
    const delimitedByClose = !framing.chunked && framing.length === undefined;
    return new Response(
      streamBody(c, framing, (reusable) => done(reusable && !delimitedByClose)),
      { status, headers },
    );
  }

  return {
    send,
    close() {
      closed = true;
      for (const upstream of upstreams.values()) dropIdle(upstream);
    },
  };
}

/** How the answer's body is delimited. */
interface Framing {
  /** `content-length`, unless chunked. */
  length?: number;
  chunked: boolean;
  /** The upstream closes the connection after this answer. */
  close: boolean;
}

function requestHead(host: string, request: UpstreamRequest): Uint8Array {
  let head = `${request.method} ${request.target} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === "content-length") continue;
    head += `${lower}: ${value}\r\n`;
  }
  const { body } = request;
  if (body instanceof Uint8Array) head += `content-length: ${body.length}\r\n`;
  else if (body && request.bodyLength !== undefined) {
    head += `content-length: ${request.bodyLength}\r\n`;
  } else if (body) head += "transfer-encoding: chunked\r\n";
  return latin1Bytes(`${head}\r\n`);
}

async function writeRequest(
  conn: Deno.TcpConn,
  head: Uint8Array,
  body: UpstreamRequest["body"],
  bodyLength: number | undefined,
): Promise<void> {
  if (!(body instanceof ReadableStream)) {
    if (!body || body.length === 0) return await writeAll(conn, head);
    // One write for head and body: one syscall, one segment for a small body.
    const all = new Uint8Array(head.length + body.length);
    all.set(head);
    all.set(body, head.length);
    return await writeAll(conn, all);
  }
  await writeAll(conn, head);
  const reader = body.getReader();
  let sent = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!value.length) continue;
      sent += value.length;
      if (bodyLength !== undefined) {
        if (sent > bodyLength) {
          throw new Error(`Cannot forward the body: it is longer than its ${bodyLength} bytes`);
        }
        await writeAll(conn, value);
      } else {
        await writeAll(conn, latin1Bytes(`${value.length.toString(16)}\r\n`));
        await writeAll(conn, value);
        await writeAll(conn, CRLF);
      }
    }
    if (bodyLength === undefined) await writeAll(conn, LAST_CHUNK);
    else if (sent !== bodyLength) {
      throw new Error(`Cannot forward the body: it ended after ${sent} of ${bodyLength} bytes`);
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  }
}

const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function readHead(c: Connection): Promise<string> {
  let from = c.start;
  for (;;) {
    const end = headEnd(c.buf, from, c.end);
    if (end >= 0) {
      const text = latin1(c.buf, c.start, end);
      c.start = end + 4;
      return text;
    }
    if (c.end - c.start > MAX_HEAD_BYTES) {
      throw new Error("Cannot read the answer: its head is larger than 64 KiB");
    }
    const scanned = Math.max(0, c.end - c.start - 3);
    if (!(await c.fill())) throw new UpstreamClosedError(c.answered);
    from = c.start + scanned;
  }
}

/** Where `\r\n\r\n` starts in `buf[from, to)`, or -1. */
function headEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function parseHead(
  text: string,
): { status: number; headers: [string, string][]; framing: Framing } {
  const lines = text.split("\r\n");
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]);
  if (!statusLine) {
    throw new Error(
      `Cannot read the answer: ${
        JSON.stringify(lines[0].slice(0, 80))
      } is not an HTTP/1.x status line`,
    );
  }
  const headers: [string, string][] = [];
  const framing: Framing = { chunked: false, close: statusLine[1] === "0" };
  let length: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new Error(
        `Cannot read the answer: ${JSON.stringify(line.slice(0, 80))} is not a header`,
      );
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") length = value;
    else if (name === "transfer-encoding") framing.chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
    else if (name === "connection") framing.close = /(?:^|,)\s*close\s*(?:,|$)/i.test(value);
    if (!HOP_BY_HOP.has(name)) headers.push([name, value]);
  }
  // Both framings at once: chunked wins (RFC 9112 §6.3), the length is not passed on.
  if (framing.chunked && length !== undefined) {
    return {
      status: Number(statusLine[2]),
      headers: headers.filter(([name]) => name !== "content-length"),
      framing,
    };
  }
  if (length !== undefined) {
    if (!/^\d{1,15}$/.test(length)) {
      throw new Error(
        `Cannot read the answer: content-length ${JSON.stringify(length)} is invalid`,
      );
    }
    framing.length = Number(length);
  }
  return { status: Number(statusLine[2]), headers, framing };
}

async function readExactly(c: Connection, length: number): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(length);
  let got = Math.min(length, c.end - c.start);
  out.set(c.buf.subarray(c.start, c.start + got));
  c.start += got;
  while (got < length) {
    const n = await c.conn.read(out.subarray(got));
    if (n === null) throw new UpstreamClosedError(true);
    got += n;
  }
  return out;
}

/** The answer's body as a stream; `done(reusable)` runs once it ends, fails or is cancelled. */
function streamBody(
  c: Connection,
  framing: Framing,
  done: (reusable: boolean) => void,
): ReadableStream<Uint8Array> {
  let remaining = framing.length ?? Infinity;
  // Chunked: bytes left in the current chunk; 0 means a size line comes next.
  let inChunk = 0;
  let finished = false;
  const finish = (reusable: boolean) => {
    if (finished) return;
    finished = true;
    done(reusable);
  };

  async function next(): Promise<Uint8Array | null> {
    if (!framing.chunked) {
      if (remaining === 0) return null;
      const bytes = await c.take(remaining);
      if (bytes === null) {
        if (framing.length !== undefined) throw new UpstreamClosedError(true);
        return null; // close-delimited
      }
      remaining -= bytes.length;
      return bytes;
    }
    while (inChunk === 0) {
      const sizeLine = await c.line();
      const size = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(sizeLine);
      if (!size) {
        throw new Error(
          `Cannot read the answer: ${JSON.stringify(sizeLine.slice(0, 40))} is not a chunk size`,
        );
      }
      inChunk = parseInt(size[1], 16);
      if (inChunk === 0) {
        // Trailers (dropped, as `trailer` is hop-by-hop here) up to the empty line.
        while ((await c.line()) !== "");
        return null;
      }
    }
    const bytes = await c.take(inChunk);
    if (bytes === null) throw new UpstreamClosedError(true);
    inChunk -= bytes.length;
    if (inChunk === 0 && (await c.line()) !== "") {
      throw new Error("Cannot read the answer: a chunk is longer than its size");
    }
    return bytes;
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const bytes = await next();
        if (bytes === null) {
          controller.close();
          finish(true);
        } else controller.enqueue(bytes);
      } catch (err) {
        finish(false);
        controller.error(err);
      }
    },
    cancel() {
      finish(false);
    },
  });
}

function isClosedError(err: unknown): boolean {
  return err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.ConnectionReset;
}

/** Bytes as a string of the same length: header bytes are ISO-8859-1 on the wire. */
function latin1(buf: Uint8Array, from: number, to: number): string {
  let i = from;
  while (i < to && buf[i] < 0x80) i++;
  if (i === to) return ascii.decode(buf.subarray(from, to));
  let text = "";
  for (let j = from; j < to; j++) text += String.fromCharCode(buf[j]);
  return text;
}

/** A string of code points below 256 as one byte each (the inverse of {@link latin1}). */
function latin1Bytes(text: string): Uint8Array {
  // deno-lint-ignore no-control-regex
  if (!/[^\x00-\x7f]/.test(text)) return encoder.encode(text);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
