import assert from "node:assert/strict";
import { createUpstreamClient, type UpstreamRequest } from "./gateway_upstream.ts";

/** One request as the server received it: its head (ISO-8859-1), body and exact bytes. */
interface RawRequest {
  head: string;
  body: Uint8Array;
  raw: Uint8Array;
}

type Answer = (request: RawRequest, conn: Deno.Conn, index: number) => Promise<void> | void;

const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const bytesOf = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/**
 * A TCP server whose answers each test writes byte for byte. It reads each request whole
 * (content-length or chunked) and records it before calling `answer`.
 */
function rawServer(answer: Answer) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: RawRequest[] = [];
  const conns = new Set<Deno.Conn>();
  const handlers: Promise<void>[] = [];
  let connections = 0;

  async function handle(conn: Deno.Conn): Promise<void> {
    let pending: Uint8Array<ArrayBuffer> = new Uint8Array();
    const more = async () => {
      const chunk = new Uint8Array(64 * 1024);
      const n = await conn.read(chunk);
      if (n === null) return false;
      const joined = new Uint8Array(pending.length + n);
      joined.set(pending);
      joined.set(chunk.subarray(0, n), pending.length);
      pending = joined;
      return true;
    };
    try {
      for (;;) {
        let end = latin1(pending).indexOf("\r\n\r\n");
        while (end < 0) {
          if (!(await more())) return;
          end = latin1(pending).indexOf("\r\n\r\n");
        }
        const head = latin1(pending.subarray(0, end));
        let at = end + 4;
        const chunks: Uint8Array<ArrayBuffer>[] = [];
        const length = /\r\ncontent-length: (\d+)/i.exec(head);
        if (/\r\ntransfer-encoding: chunked/i.test(head)) {
          for (;;) {
            let lineEnd = latin1(pending.subarray(at)).indexOf("\r\n");
            while (lineEnd < 0) {
              await more();
              lineEnd = latin1(pending.subarray(at)).indexOf("\r\n");
            }
            const size = parseInt(latin1(pending.subarray(at, at + lineEnd)), 16);
            at += lineEnd + 2;
            while (pending.length < at + size + 2) await more();
            chunks.push(pending.slice(at, at + size));
            at += size + 2;
            if (size === 0) break;
          }
        } else if (length) {
          while (pending.length < at + Number(length[1])) await more();
          chunks.push(pending.slice(at, at + Number(length[1])));
          at += Number(length[1]);
        }
        const body = new Uint8Array(await new Blob(chunks).arrayBuffer());
        const request = { head, body, raw: pending.slice(0, at) };
        pending = pending.slice(at);
        requests.push(request);
        await answer(request, conn, requests.length - 1);
      }
    } catch {
      // The test closed the connection, or the client did.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed by the answer */ }
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections++;
        conns.add(conn);
        handlers.push(handle(conn));
      }
    } catch { /* closed */ }
  })();

  return {
    base: `http://127.0.0.1:${listener.addr.port}`,
    port: listener.addr.port,
    requests,
    connections: () => connections,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.all(handlers);
    },
  };
}

async function write(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = bytesOf(text);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function ok(body = "ok"): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

function post(body: UpstreamRequest["body"], extra: Partial<UpstreamRequest> = {}) {
  return { method: "POST", target: "/fn", headers: [], body, ...extra } as UpstreamRequest;
}

/** Every byte value, then UTF-8 that is not ASCII. */
function awkwardBytes(): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(256 + 8);
  for (let i = 0; i < 256; i++) bytes[i] = i;
  bytes.set(new TextEncoder().encode("Zoë ✓"), 256);
  return bytes;
}

Deno.test("upstream client sends method, target, host, headers without hop-by-hop ones and a whole body with its length", async () => {
  const server = rawServer((_req, conn) => write(conn, ok()));
  const client = createUpstreamClient();
  try {
    const body = awkwardBytes();
    const res = await client.send(server.base, {
      method: "POST",
      target: "/stripe-webhook/a%20b?x=1&y=%2F",
      headers: new Headers({
        "content-type": "application/json",
        "stripe-signature": "t=1,v1=abc",
        "x-name": "caf\u00e9",
        connection: "keep-alive",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic eA==",
        host: "example.com",
        "content-length": "999",
      }),
      body,
    });
    assert.equal(await res.text(), "ok");
    const [req] = server.requests;
    assert.deepEqual(req.head.split("\r\n"), [
      "POST /stripe-webhook/a%20b?x=1&y=%2F HTTP/1.1",
      `host: 127.0.0.1:${server.port}`,
      "content-type: application/json",
      "stripe-signature: t=1,v1=abc",
      "x-name: caf\u00e9",
      `content-length: ${body.length}`,
    ]);
    assert.deepEqual(req.body, body);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client sends a stream of declared length with it and any other stream chunked", async () => {
  const server = rawServer((_req, conn) => write(conn, ok()));
  const client = createUpstreamClient();
  try {
    const body = awkwardBytes();
    const stream = () => new Blob([body.subarray(0, 10), body.subarray(10)]).stream();
    await (await client.send(server.base, post(stream(), { bodyLength: body.length }))).text();
    await (await client.send(server.base, post(stream()))).text();
    const [known, chunked] = server.requests;
    assert.match(known.head, new RegExp(`\r\ncontent-length: ${body.length}$`));
    assert.deepEqual(known.body, body);
    assert.match(chunked.head, /\r\ntransfer-encoding: chunked$/);
    assert.doesNotMatch(chunked.head, /content-length/);
    assert.deepEqual(chunked.body, body);
    assert.ok(latin1(chunked.raw).endsWith("\r\n0\r\n\r\n"));
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client refuses a stream that does not match its declared length", async () => {
  const server = rawServer((_req, conn) => write(conn, ok()));
  const client = createUpstreamClient();
  try {
    const short = new Blob([new Uint8Array(5)]).stream();
    await assert.rejects(
      client.send(server.base, post(short, { bodyLength: 6 })),
      /Cannot forward the body: it ended after 5 of 6 bytes/,
    );
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client reads an answer within the limit whole and streams a larger one as it comes", async () => {
  for (const limit of [4, 1024]) {
    const rest = gate();
    const server = rawServer(async (_req, conn) => {
      await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234");
      await rest.wait;
      await write(conn, "56789");
    });
    const client = createUpstreamClient({ maxBufferedBytes: limit });
    try {
      const sending = client.send(server.base, post(null, { method: "GET" }));
      const early = await Promise.race([
        sending.then(() => "answered"),
        new Promise((r) => setTimeout(() => r("waiting"), 100)),
      ]);
      assert.equal(early, limit < 10 ? "answered" : "waiting", `limit ${limit}`);
      rest.open();
      const res = await sending;
      assert.equal(res.headers.get("content-length"), "10");
      assert.equal(await res.text(), "0123456789");
    } finally {
      rest.open();
      client.close();
      await server.close();
    }
  }
});

Deno.test("upstream client streams a chunked answer chunk by chunk, as server-sent events need", async () => {
  const second = gate();
  const server = rawServer(async (_req, conn) => {
    await write(
      conn,
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
        "9\r\ndata: 1\n\n\r\n",
    );
    await second.wait;
    await write(conn, "9;ext=1\r\ndata: 2\n\n\r\n0\r\nx-trailer: t\r\n\r\n");
  });
  const client = createUpstreamClient();
  try {
    const res = await client.send(server.base, post(null, { method: "GET" }));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    assert.equal(res.headers.get("transfer-encoding"), null);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value, "data: 1\n\n");
    second.open();
    assert.equal((await reader.read()).value, "data: 2\n\n");
    assert.equal((await reader.read()).done, true);
    // The connection went back to the pool with nothing left over.
    await (await client.send(server.base, post(null, { method: "GET" }))).text();
    assert.equal(server.connections(), 1);
  } finally {
    second.open();
    client.close();
    await server.close();
  }
});

Deno.test("upstream client skips 100 Continue and answers HEAD, 204 and 304 without a body on one connection", async () => {
  const answers = [
    "HTTP/1.1 100 Continue\r\n\r\n" + ok("after continue"),
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5011\r\n\r\n",
    "HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n",
    'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n',
    ok("last"),
  ];
  const server = rawServer((_req, conn, i) => write(conn, answers[i]));
  const client = createUpstreamClient();
  try {
    const expect = new Headers({ expect: "100-continue" });
    const continued = await client.send(server.base, post(new Uint8Array(3), { headers: expect }));
    assert.equal(await continued.text(), "after continue");
    const head = await client.send(server.base, post(null, { method: "HEAD" }));
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "5011");
    assert.equal(head.body, null);
    const noContent = await client.send(server.base, post(null, { method: "GET" }));
    assert.equal(noContent.status, 204);
    assert.equal(noContent.body, null);
    const notModified = await client.send(server.base, post(null, { method: "GET" }));
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get("etag"), '"x"');
    assert.equal(await (await client.send(server.base, post(null))).text(), "last");
    assert.equal(server.connections(), 1);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client drops hop-by-hop headers of the answer, keeps repeated set-cookie and reads bytes as ISO-8859-1", async () => {
  const server = rawServer((_req, conn) =>
    write(
      conn,
      "HTTP/1.1 201 Created\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nconnection: keep-alive\r\n" +
        "keep-alive: timeout=5\r\nx-name: caf\u00e9\r\nContent-Length: 0\r\n\r\n",
    )
  );
  const client = createUpstreamClient();
  try {
    const res = await client.send(server.base, post(null, { method: "GET" }));
    assert.equal(res.status, 201);
    assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(res.headers.get("connection"), null);
    assert.equal(res.headers.get("keep-alive"), null);
    assert.equal(res.headers.get("x-name"), "caf\u00e9");
    assert.equal(await res.text(), "");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client sends again on a new connection when a reused one closed before answering", async () => {
  // Answers, then closes the connection without saying so: the next request finds it stale.
  const server = rawServer(async (_req, conn) => {
    await write(conn, ok());
    conn.close();
  });
  const client = createUpstreamClient();
  try {
    assert.equal(await (await client.send(server.base, post(new Uint8Array([1])))).text(), "ok");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await (await client.send(server.base, post(new Uint8Array([2])))).text(), "ok");
    assert.equal(server.connections(), 2);
    assert.deepEqual(server.requests.map((r) => [...r.body]), [[1], [2]]);
    // A stream cannot be sent twice: that failure is the caller's to report.
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(
      client.send(server.base, post(new Blob(["x"]).stream())),
      /closed before any byte/,
    );
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client reads a body delimited by closing the connection and does not reuse it", async () => {
  const server = rawServer(async (_req, conn, i) => {
    await write(conn, `HTTP/1.1 200 OK\r\n\r\nuntil close ${i}`);
    conn.close();
  });
  const client = createUpstreamClient();
  try {
    assert.equal(await (await client.send(server.base, post(null))).text(), "until close 0");
    assert.equal(await (await client.send(server.base, post(null))).text(), "until close 1");
    assert.equal(server.connections(), 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client closes the connection of a streamed answer the caller cancels", async () => {
  const server = rawServer((_req, conn, i) =>
    write(
      conn,
      i === 0 ? "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n" : ok(),
    )
  );
  const client = createUpstreamClient();
  try {
    const res = await client.send(server.base, post(null, { method: "GET" }));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(await (await client.send(server.base, post(null))).text(), "ok");
    assert.equal(server.connections(), 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client rejects when nothing listens, on garbage and on a cut answer", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close();
  const answers = [
    "SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n012",
    "HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
  ];
  const server = rawServer(async (_req, conn, i) => {
    await write(conn, answers[i]);
    conn.close();
  });
  const client = createUpstreamClient();
  try {
    await assert.rejects(
      client.send(`http://127.0.0.1:${closedPort}`, post(null)),
      Deno.errors.ConnectionRefused,
    );
    await assert.rejects(client.send(server.base, post(null)), /is not an HTTP\/1.x status line/);
    await assert.rejects(client.send(server.base, post(null)), /closed in the middle/);
    await assert.rejects(client.send(server.base, post(null)), /content-length "ten" is invalid/);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("upstream client talks to Deno.serve over one kept-alive connection", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req, info) =>
      Response.json({
        peer: info.remoteAddr.port,
        length: (await req.arrayBuffer()).byteLength,
        url: req.url,
      }),
  );
  const client = createUpstreamClient();
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const answers = [];
    for (const body of [awkwardBytes(), new Blob([awkwardBytes()]).stream(), null]) {
      const res = await client.send(base, post(body, { target: "/fn/x?y=%2F" }));
      answers.push(await res.json());
    }
    assert.deepEqual(answers.map((a) => a.length), [264, 264, 0]);
    assert.deepEqual(answers.map((a) => a.url), Array(3).fill(`${base}/fn/x?y=%2F`));
    assert.equal(new Set(answers.map((a) => a.peer)).size, 1);
  } finally {
    client.close();
    await server.shutdown();
  }
});
