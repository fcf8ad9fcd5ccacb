/**
 * The panel's bounds (src/apps/admin/limits.ts): a huge thread is shown a page at a
 * time, the server's timeouts and connection cap are set, and a client that stops
 * half-way through a request is answered 408 and closed. Nothing here waits on the
 * clock: the timeouts are made small and the tests wait on the sockets' events.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { startAdminPanel, type AdminPanel, type AdminPanelOptions } from '../../src/apps/admin-panel.ts';
import { inTransaction } from '../../src/db.ts';
import { PanelClient, seededPanel } from '../fixtures/panel.ts';
import { PROVIDERS, testDatabase } from '../helpers.ts';

const BULK = 100_000;
const PER_INSERT = 2_000;
/** After the fixture's four messages (minutes 40 to 43 of its clock). */
const BULK_FROM = 1_780_000_000_000 + 60 * 60_000;
const PAGE_SIZE = 25;

async function panel(t: TestContext, options: Omit<AdminPanelOptions, 'port'>): Promise<AdminPanel> {
  const started = await startAdminPanel({ port: 0, host: '127.0.0.1', ...options });
  t.after(() => started.close());
  return started;
}

/** A raw socket to the panel that collects what the panel sends; `closed` settles when the panel closes it. */
async function rawSocket(app: AdminPanel): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const { port } = new URL(app.url);
  const socket = connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  // Not events.once, which rejects on 'error': a reset is one way of being closed.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await once(socket, 'connect');
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed };
}

for (const provider of PROVIDERS) {
  describe(`a thread of ${BULK.toLocaleString('en')} messages on ${provider}`, () => {
    test('is shown one page at a time: 25 messages, a bounded body, a pager that counts the pages; page 2 holds the next ones; a reply to a message on another page still shows it and links to its page', async (t) => {
      const { db, panel: app, ids } = await seededPanel(t, provider);
      const conn = await db.connect();
      await inTransaction(conn, async () => {
        for (let from = 0; from < BULK; from += PER_INSERT) {
          const rows = Array.from({ length: Math.min(PER_INSERT, BULK - from) }, (_, k) => from + k).map((i) => `(${ids.thread}, '${i % 2 ? 'assistant' : 'user'}', 'bulk ${i}', ${BULK_FROM + i})`);
          await conn.query(`INSERT INTO "Message" ("threadId", "role", "content", "createdAt") VALUES ${rows.join(', ')}`);
        }
      });
      // bulk 30 (page 2) replies to the fixture's first message (page 1); the last message (the last page) to bulk 21 (page 2).
      await conn.query(`UPDATE "Message" SET "replyToMessageId" = ${ids.question} WHERE "threadId" = ${ids.thread} AND "content" = 'bulk 30'`);
      const [bulk21] = await conn.query<{ id: number | bigint }>(`SELECT "id" FROM "Message" WHERE "threadId" = ${ids.thread} AND "content" = 'bulk 21'`);
      const bulk21Id = Number(bulk21?.id);
      await conn.query(`UPDATE "Message" SET "replyToMessageId" = ${bulk21Id} WHERE "threadId" = ${ids.thread} AND "content" = 'bulk ${BULK - 1}'`);

      const admin = new PanelClient(app.url);
      await admin.login();
      const total = BULK + 4;
      const pages = Math.ceil(total / PAGE_SIZE);
      const first = await admin.get(`/threads/${ids.thread}`);
      assert.equal(first.status, 200);
      assert.equal([...first.body.matchAll(/<div class="message" id="message-\d+">/g)].length, PAGE_SIZE, 'one page of messages');
      assert.ok(Buffer.byteLength(first.body) < 200 * 1024, `the page is ${Buffer.byteLength(first.body)} bytes`);
      assert.match(first.body, new RegExp(`Page 1 of ${pages} \\(${total} in all\\)`));
      assert.match(first.body, new RegExp(`· ${total} messages</p>`));
      assert.match(first.body, new RegExp(`<a href="/threads/${ids.thread}\\?page=2" rel="next">next</a>`));
      assert.match(first.body, new RegExp(`id="message-${ids.answer}"[\\s\\S]*?↪ in reply to <a href="#message-${ids.question}">#${ids.question}</a>`), 'a reply on the same page links to its anchor');

      const second = await admin.get(`/threads/${ids.thread}?page=2`);
      assert.equal(second.status, 200);
      const bulk = (body: string) => [...body.matchAll(/<pre dir="auto">bulk (\d+)<\/pre>/g)].map((m) => Number(m[1]));
      assert.deepEqual(bulk(second.body), Array.from({ length: PAGE_SIZE }, (_, k) => 21 + k), 'the next 25 in order');
      assert.match(second.body, new RegExp(`Page 2 of ${pages} \\(${total} in all\\)`));
      const toFirstPage = new RegExp(`↪ in reply to <a href="(/messages/${ids.question})">#${ids.question}</a> \\(<bdi>user</bdi>\\): <bdi>How deep is the rabbit hole\\?</bdi>`);
      const link = toFirstPage.exec(second.body)?.[1];
      assert.ok(link, 'bulk 30 shows the excerpt of the message it replies to, on page 1');
      const followed = await admin.get(link);
      assert.equal(followed.status, 302);
      assert.equal(followed.location, `/threads/${ids.thread}#message-${ids.question}`);

      const last = await admin.get(`/threads/${ids.thread}?page=${pages}`);
      assert.deepEqual(bulk(last.body), [BULK - 4, BULK - 3, BULK - 2, BULK - 1]);
      assert.match(last.body, new RegExp(`↪ in reply to <a href="/messages/${bulk21Id}">#${bulk21Id}</a> \\(<bdi>assistant</bdi>\\): <bdi>bulk 21</bdi>`));
      const back = await admin.get(`/messages/${bulk21Id}`);
      assert.equal(back.location, `/threads/${ids.thread}?page=2#message-${bulk21Id}`);
      assert.match((await admin.get(back.location.replace(/#.*/, ''))).body, new RegExp(`<div class="message" id="message-${bulk21Id}">`));
      assert.equal((await admin.get('/messages/424242')).status, 404);
      const beyond = await admin.get(`/threads/${ids.thread}?page=99999999999999999999`);
      assert.equal(beyond.status, 200, 'a page past the last is empty, not an error');
      assert.deepEqual(bulk(beyond.body), []);
    });
  });
}

test('a message of a million characters is cut on its page, which says how long it is', async (t) => {
  const { client, panel: app, ids } = await seededPanel(t, 'sqlite');
  const { id } = await client.message.create({ data: { threadId: ids.thread, role: 'assistant', content: 'y'.repeat(1_000_000), createdAt: BigInt(BULK_FROM) } });
  const admin = new PanelClient(app.url);
  await admin.login();
  const page = await admin.get(`/threads/${ids.thread}`);
  assert.equal(page.status, 200);
  assert.ok(Buffer.byteLength(page.body) < 200 * 1024, `the page is ${Buffer.byteLength(page.body)} bytes`);
  assert.match(page.body, new RegExp(`id="message-${id}"[\\s\\S]*?<pre dir="auto">y{7999}…</pre><p class="cut">Cut after 8000 characters: the message has 1000000\\.</p>`));
});

describe('the server', () => {
  test('sets its timeouts (headers 10 s, request 30 s, keep-alive 5 s) and a cap of 256 connections', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const { server } = await panel(t, { target: db.target });
    const { headersTimeout, requestTimeout, keepAliveTimeout, maxConnections } = server;
    assert.deepEqual({ headersTimeout, requestTimeout, keepAliveTimeout, maxConnections }, { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxConnections: 256 });
  });

  test('closes a connection beyond its cap at once, without an answer, keeps those within it open, and takes a new one when a slot frees', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const app = await panel(t, { target: db.target, limits: { maxConnections: 2 } });
    assert.equal(app.server.maxConnections, 2);
    const accepted: Socket[] = [];
    app.server.on('connection', (socket: Socket) => accepted.push(socket));
    const within = [await rawSocket(app), await rawSocket(app)];
    t.after(() => within.forEach(({ socket }) => socket.destroy()));
    while (accepted.length < 2) await once(app.server, 'connection');

    const dropped = once(app.server, 'drop');
    const beyond = await rawSocket(app);
    await beyond.closed;
    await dropped;
    assert.equal(beyond.received(), '', 'closed without an answer');
    for (const { socket } of within) assert.equal(socket.readyState, 'open', 'the connections within the cap stay open');

    within[0]?.socket.destroy();
    await new Promise((resolve) => (accepted[0] as Socket).once('close', resolve));
    const health = await fetch(`${app.url}/healthz`);
    assert.equal(health.status, 200, 'a freed slot takes a new connection');
    await health.text();
  });

  test('answers 408 and closes a request that stops half-way once its time is up: headers after headersTimeout, a body after requestTimeout', async (t) => {
    const db = await testDatabase(t, 'sqlite');
    const logged: string[] = [];
    const app = await panel(t, { target: db.target, log: (line) => logged.push(line), limits: { headersTimeoutMs: 200, requestTimeoutMs: 400, checkIntervalMs: 50 } });
    assert.equal(app.server.headersTimeout, 200);
    assert.equal(app.server.requestTimeout, 400);
    const slowHeaders = await rawSocket(app);
    slowHeaders.socket.write('GET /healthz HTTP/1.1\r\nHost: panel\r\nX-Slow: a');
    const slowBody = await rawSocket(app);
    slowBody.socket.write('POST /login HTTP/1.1\r\nHost: panel\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=adm');
    await Promise.all([slowHeaders.closed, slowBody.closed]);
    assert.match(slowHeaders.received(), /^HTTP\/1\.1 408 /);
    assert.match(slowBody.received(), /^HTTP\/1\.1 408 /);
    const health = await fetch(`${app.url}/healthz`);
    assert.equal(health.status, 200, 'the panel goes on answering');
    await health.text();
    assert.deepEqual(logged, [], 'a client that gave up is not an error of the panel');
  });
});
