/**
 * The admin panel over HTTP, as a browser or an attacker talks to it: what needs
 * a session, CSRF, forged and expired cookies, the login throttle, concurrent
 * "set default", bad input. Real databases, seeded (test/fixtures/panel.ts).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startAdminPanel } from '../../src/apps/admin-panel.ts';
import { SESSION_COOKIE } from '../../src/apps/admin/session.ts';
import { ADMIN, PanelClient, SESSION_SECRET, seededPanel, USERS } from '../fixtures/panel.ts';
import { PROVIDERS, runScript, serverPassword, tempDir, testDatabase } from '../helpers.ts';
import { freePort, startScript, waitForHttp } from '../processes.ts';
import { until } from '../entrypoint/harness.ts';

const PROTECTED_GETS = ['/', '/migrations', '/users', '/users/1', '/threads/1', '/packs', '/tool-logs', '/tool-logs?tool=search', '/nope'];
const PROTECTED_POSTS = ['/packs', '/packs/1', '/packs/1/default', '/migrations/check', '/logout'];

async function defaults(client: Awaited<ReturnType<typeof seededPanel>>['client']): Promise<string[]> {
  return (await client.pack.findMany({ where: { isDefault: true }, select: { name: true } })).map((p) => p.name);
}

test('without a session: pages redirect to the login (keeping where to go back), forms get 401; only health, readiness, login and assets are public', async (t) => {
  const { panel } = await seededPanel(t, 'sqlite');
  const anonymous = new PanelClient(panel.url);
  for (const path of PROTECTED_GETS) {
    const res = await anonymous.get(path);
    assert.equal(res.status, 302, path);
    assert.equal(res.location, `/login?next=${encodeURIComponent(path)}`, path);
  }
  for (const path of PROTECTED_POSTS) {
    const res = await anonymous.request(path, { form: { name: 'x' } });
    assert.equal(res.status, 401, path);
    assert.equal(res.body, 'login required\n');
  }
  for (const path of ['/healthz', '/readyz', '/login', '/assets/panel.css']) assert.equal((await anonymous.get(path)).status, 200, path);
  const css = await anonymous.get('/assets/panel.css');
  assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
});

test('login: the same message for an unknown user and a wrong password, lastLoginAt recorded, a cookie HttpOnly and SameSite=Lax, back to the page asked for; logout ends the session', async (t) => {
  const { panel, client, logged } = await seededPanel(t, 'sqlite');
  const browser = new PanelClient(panel.url);
  const unknown = await browser.login('nobody', ADMIN.password);
  const wrong = await browser.login(ADMIN.username, 'wrong password');
  for (const res of [unknown, wrong]) {
    assert.equal(res.status, 401);
    assert.match(res.body, /<p class="form-error" role="alert">Wrong user name or password\.<\/p>/);
    assert.ok(!res.body.includes(ADMIN.password) && !res.body.includes('wrong password'), 'a password is never echoed');
  }
  assert.equal((await client.adminUser.findUniqueOrThrow({ where: { username: ADMIN.username } })).lastLoginAt, null);

  const token = await browser.token('/login?next=%2Fpacks');
  const before = Date.now();
  const res = await browser.request('/login', { form: { _csrf: token, username: ADMIN.username, password: ADMIN.password, next: '/packs' } });
  assert.equal(res.status, 302);
  assert.equal(res.location, '/packs');
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`)) ?? '';
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Lax/);
  assert.doesNotMatch(cookie, /; Secure/, 'plain HTTP without COOKIE_SECURE: not Secure');
  const lastLoginAt = Number((await client.adminUser.findUniqueOrThrow({ where: { username: ADMIN.username } })).lastLoginAt);
  assert.ok(lastLoginAt >= before && lastLoginAt <= Date.now(), String(lastLoginAt));
  assert.equal((await browser.get('/packs')).status, 200);
  assert.deepEqual(logged, ['Failed login (unknown user name) from 127.0.0.1', 'Failed login for admin from 127.0.0.1', 'Admin admin logged in from 127.0.0.1']);

  const stolen = browser.cookies.get(SESSION_COOKIE) as string;
  const out = await browser.post('/logout', {}, '/packs');
  assert.equal(out.status, 302);
  assert.equal(out.location, '/login');
  assert.equal((await browser.get('/packs')).status, 302);
  // The cookie of a logged-out session stays refused even when sent again.
  const replay = new PanelClient(panel.url);
  replay.cookies.set(SESSION_COOKIE, stolen);
  assert.equal((await replay.get('/packs')).status, 302);

  // An offered `next` never leads off the panel.
  const again = await browser.request('/login', { form: { _csrf: await browser.token('/login'), username: ADMIN.username, password: ADMIN.password, next: '//evil.example/' } });
  assert.equal(again.location, '/migrations');
});

test('a forged cookie, another admin id under the same signature, and an expired session are refused', async (t) => {
  // The panel's clock moves only when the test moves it: a slow machine cannot expire the session early.
  let now = Date.now();
  const { panel } = await seededPanel(t, 'sqlite', { sessionMaxAgeMs: 1500, clock: () => now });
  const browser = new PanelClient(panel.url);
  assert.equal((await browser.login()).status, 302);
  const genuine = decodeURIComponent(browser.cookies.get(SESSION_COOKIE) as string);
  const [value = '', signature = ''] = [genuine.slice(0, genuine.lastIndexOf('.')), genuine.slice(genuine.lastIndexOf('.') + 1)];
  const forgeries = [
    `${value}.${signature.slice(0, -2)}AA`, // signature altered
    `${value.replace(/^1:/, '2:')}.${signature}`, // payload altered
    `${value}`, // unsigned
    'garbage',
  ];
  for (const forged of forgeries) {
    const attacker = new PanelClient(panel.url);
    attacker.cookies.set(SESSION_COOKIE, encodeURIComponent(forged));
    assert.equal((await attacker.get('/users')).status, 302, forged);
    assert.equal((await attacker.request('/packs', { form: { name: 'Forged' } })).status, 401, forged);
  }
  assert.equal((await browser.get('/users')).status, 200, 'the genuine cookie works');
  now += 1499;
  assert.equal((await browser.get('/users')).status, 200, 'still valid 1 ms before it expires');
  now += 1;
  const expired = await browser.get('/users');
  assert.equal(expired.status, 302, 'the session expired');
  assert.match(expired.location ?? '', /^\/login\?next=/);
});

test('CSRF: a POST without the token, or with another session\'s token, is refused and writes nothing; so is a login form without its token', async (t) => {
  const { panel, client } = await seededPanel(t, 'sqlite');
  const admin = new PanelClient(panel.url);
  await admin.login();
  const other = new PanelClient(panel.url);
  await other.login();
  const otherToken = await other.token('/packs');
  const packs = await client.pack.count();
  for (const form of [{ name: 'Sneaky' }, { name: 'Sneaky', _csrf: '' }, { name: 'Sneaky', _csrf: otherToken }] as Record<string, string>[]) {
    const res = await admin.request('/packs', { form });
    assert.equal(res.status, 403, JSON.stringify(form));
    assert.match(res.body, /The form is missing its CSRF token or it is not valid/);
  }
  assert.equal((await admin.request('/packs/1/default', { form: {} })).status, 403);
  assert.equal(await client.pack.count(), packs, 'nothing written');
  assert.deepEqual(await defaults(client), ['Default']);

  const fresh = new PanelClient(panel.url);
  const login = await fresh.request('/login', { form: { username: ADMIN.username, password: ADMIN.password } });
  assert.equal(login.status, 403);
  assert.match(login.body, /The login form expired: please try again\./);
  assert.equal(fresh.cookies.has(SESSION_COOKIE), false);
});

test('20 wrong passwords in a row from one address: after 5 every attempt from it waits (429, Retry-After), even the right password, per address and per user name from that address; once the wait is over the right password works', async (t) => {
  // The panel's clock moves only when the test moves it: however slow the machine, the 20 attempts fall in the wait.
  let now = Date.now();
  const { panel } = await seededPanel(t, 'sqlite', { clock: () => now });
  const attacker = new PanelClient(panel.url);
  const statuses: number[] = [];
  let retryAfter = 0;
  for (let i = 0; i < 20; i++) {
    const res = await attacker.login(ADMIN.username, `guess-${i}`);
    statuses.push(res.status);
    if (res.status === 429) {
      retryAfter = Number(res.headers.get('retry-after'));
      assert.match(res.body, /Too many failed logins: try again in \d+ s\./);
    }
  }
  assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(15).fill(429)]);
  assert.ok(retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
  // The right password during the wait is not even checked.
  assert.equal((await attacker.login()).status, 429);
  // Another user name from the same address waits too (per address).
  assert.equal((await attacker.login('someone-else', 'x')).status, 429);
  now += retryAfter * 1000 - 1;
  assert.equal((await attacker.login()).status, 429, '1 ms before the wait is over');
  now += 1;
  const res = await attacker.login();
  assert.equal(res.status, 302, res.body);
  assert.equal((await attacker.get('/users')).status, 200);
});

test('wrong passwords sent in parallel: no more than the free attempts are checked', async (t) => {
  const { panel } = await seededPanel(t, 'sqlite');
  const attackers = Array.from({ length: 12 }, () => new PanelClient(panel.url));
  const tokens = await Promise.all(attackers.map((a) => a.token('/login')));
  const results = await Promise.all(attackers.map((a, i) => a.request('/login', { form: { _csrf: tokens[i] as string, username: ADMIN.username, password: `parallel-${i}` } })));
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(7).fill(429)]);
});

for (const provider of PROVIDERS) {
  describe(`admin panel data on ${provider}`, () => {
    test('users: paginated, searched by username or telegram id; a user\'s threads; a thread\'s messages with their reply chains', async (t) => {
      const { panel, ids } = await seededPanel(t, provider);
      const admin = new PanelClient(panel.url);
      await admin.login();
      const first = await admin.get('/users');
      assert.equal(first.status, 200);
      assert.equal([...first.body.matchAll(/<tr><td><a href="\/users\/\d+">/g)].length, 25);
      assert.match(first.body, /Page 1 of 2 \(30 in all\)/);
      assert.match(first.body, /<td>7000000001<\/td><td><a href="\/users\/\d+">alice<\/a><\/td><td>Alice Liddell<\/td><td>Pro<\/td><td>1<\/td>/);
      const second = await admin.get('/users?page=2');
      assert.equal([...second.body.matchAll(/<tr><td><a href="\/users\/\d+">/g)].length, USERS - 25);
      assert.match(second.body, />user30</);
      for (const q of ['ALI', '7000000001']) {
        const found = await admin.get(`/users?q=${q}`);
        assert.match(found.body, /Page 1 of 1 \(1 in all\)/, q);
        assert.match(found.body, />alice</, q);
      }
      assert.match((await admin.get('/users?q=zzz')).body, /No user matches\./);

      const user = await admin.get(`/users/${ids.alice}`);
      assert.match(user.body, new RegExp(`<a href="/threads/${ids.thread}">Rabbit hole</a></td><td>555001</td><td>4</td>`));
      const thread = await admin.get(`/threads/${ids.thread}`);
      assert.match(thread.body, new RegExp(`id="message-${ids.answer}"[\\s\\S]*?↪ in reply to <a href="#message-${ids.question}">#${ids.question}</a> \\(<bdi>user</bdi>\\): <bdi>How deep is the rabbit hole\\?</bdi>`));
      assert.match(thread.body, new RegExp(`id="message-${ids.followUp}"[\\s\\S]*?↪ in reply to <a href="#message-${ids.answer}">#${ids.answer}</a> \\(<bdi>assistant</bdi>\\): <bdi>Deeper than it looks\\.</bdi>`));
      assert.match(thread.body, /↪ in reply to a Telegram message: <bdi>Off with their heads<\/bdi>/);
    });

    test('MCP tool logs: newest first, paginated, filtered by tool, session and success; a log links to its message', async (t) => {
      const { panel, ids } = await seededPanel(t, provider);
      const admin = new PanelClient(panel.url);
      await admin.login();
      const all = await admin.get('/tool-logs');
      assert.match(all.body, /Page 1 of 2 \(29 in all\)/);
      const ticks = [...all.body.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(ticks.slice(0, 3), [26, 25, 24], 'newest first');
      const toolChoices = /<select name="tool">([\s\S]*?)<\/select>/.exec(all.body)?.[1] ?? '';
      assert.deepEqual([...toolChoices.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]), ['', 'clock', 'search', 'weather'], 'every tool once, in order');
      const failed = await admin.get('/tool-logs?success=false');
      assert.match(failed.body, /\(1 in all\)/);
      assert.match(failed.body, new RegExp(`<td>weather</td><td class="error">failed</td><td>45 ms</td><td>sess-B</td>[\\s\\S]*?city not found[\\s\\S]*?<a href="/messages/${ids.followUp}">#${ids.followUp}</a>`));
      assert.equal((await admin.get(`/messages/${ids.followUp}`)).location, `/threads/${ids.thread}#message-${ids.followUp}`, 'the link leads to the page that shows the message');
      assert.match((await admin.get('/tool-logs?tool=search')).body, /<td><pre>3 results<\/pre><\/td>[\s\S]*\(1 in all\)/);
      assert.match((await admin.get('/tool-logs?session=sess-C&page=2')).body, /Page 2 of 2 \(27 in all\)/);
      assert.match((await admin.get(`/tool-logs?message=${ids.answer}`)).body, /<td>search<\/td>[\s\S]*\(1 in all\)/);
    });

    test('packs: create, rename, describe; an empty or taken name is a form error and writes nothing; concurrent "set default" leaves exactly one default', async (t) => {
      const { panel, client } = await seededPanel(t, provider);
      const admin = new PanelClient(panel.url);
      await admin.login();
      const created = await admin.post('/packs', { name: 'Night', description: 'Quiet hours' });
      assert.equal(created.status, 303);
      assert.match(created.location ?? '', /^\/packs\?done=created&pack=\d+$/);
      assert.match((await admin.get(created.location as string)).body, /<p class="flash" role="status">✓ Pack \u2068Night\u2069 created<\/p>/);
      // A crafted link cannot put words on the page: the message comes from the database.
      for (const crafted of ['/packs?done=Your+account+is+locked', '/packs?done=created&pack=99999', '/packs?done=created&pack=abc']) {
        const page = await admin.get(crafted);
        assert.equal(page.status, 200, crafted);
        assert.doesNotMatch(page.body, /class="flash"/, crafted);
      }
      const count = await client.pack.count();
      for (const [form, error] of [
        [{ name: '  ', description: 'x' }, 'The name must not be empty.'],
        [{ name: 'Pro', description: 'dup' }, 'A pack named &quot;Pro&quot; already exists.'],
        [{ name: 'x'.repeat(101) }, 'The name must be at most 100 characters.'],
      ] as const) {
        const res = await admin.post('/packs', form);
        assert.equal(res.status, 400);
        assert.match(res.body, new RegExp(`<p class="form-error" role="alert">${error.replace(/[.]/g, '\\.')}</p>`));
      }
      assert.equal(await client.pack.count(), count, 'nothing written');
      const night = await client.pack.findUniqueOrThrow({ where: { name: 'Night' } });
      assert.equal((await admin.post(`/packs/${night.id}`, { name: 'Pro', description: '' })).status, 400, 'renaming onto a taken name');
      assert.equal((await client.pack.findUniqueOrThrow({ where: { id: night.id } })).name, 'Night');
      assert.equal((await admin.post(`/packs/${night.id}`, { name: 'Evening', description: 'Calm' })).status, 303);
      assert.deepEqual(await client.pack.findUniqueOrThrow({ where: { id: night.id }, select: { name: true, description: true } }), { name: 'Evening', description: 'Calm' });
      assert.equal((await admin.post('/packs/99999/default')).status, 404);

      const packs = await client.pack.findMany({ orderBy: { id: 'asc' } });
      assert.ok(packs.length >= 4);
      const token = await admin.token('/packs');
      // Two admins clicking at once, many times over: every request succeeds, one default remains.
      const results = await Promise.all(packs.flatMap((p) => [p, p]).map((p) => admin.request(`/packs/${p.id}/default`, { form: { _csrf: token } })));
      assert.deepEqual(results.map((r) => r.status), results.map(() => 303));
      const after = await defaults(client);
      assert.equal(after.length, 1, `exactly one default, got ${JSON.stringify(after)}`);
      assert.match((await admin.get('/packs')).body, new RegExp(`<tr data-pack="${after[0]}">.*?<strong class="default">default</strong>`, 's'));
      // The database itself refuses a second default.
      await assert.rejects(client.pack.updateMany({ where: { isDefault: false }, data: { isDefault: true } }), (error: { code?: string }) => error.code === 'P2002');
    });
  });
}

test('bad input: unknown pages 404, malformed paging 400, huge page sizes clamped, never a 500', async (t) => {
  const { panel } = await seededPanel(t, 'sqlite');
  const admin = new PanelClient(panel.url);
  await admin.login();
  const cases: [string, number, RegExp?][] = [
    ['/nope', 404, /There is no page at \u2068\/nope\u2069\./],
    ['/users/abc', 404],
    ['/users/0', 404],
    ['/users/99999999999999999999', 404],
    ['/threads/424242', 404],
    ['/users?page=-1', 400, /page must be 1 or more/],
    ['/users?page=abc', 400, /page must be a whole number, got &quot;abc&quot;/],
    ['/users?page=1.5', 400],
    ['/users?size=abc', 400],
    ['/users?page=99999999999999999999', 200, /No users yet\.|Page \d+ of 2/],
    ['/users?size=100000', 200, /Page 1 of 1 \(30 in all\)/],
    ['/users?size=0', 200, /Page 1 of 30 \(30 in all\)/],
    ['/tool-logs?success=maybe', 400, /success must be true or false/],
    ['/tool-logs?message=x', 400],
    [`/users?q=${'a'.repeat(300)}`, 400],
  ];
  for (const [path, status, body] of cases) {
    const res = await admin.get(path);
    assert.equal(res.status, status, `${path}: ${res.body.slice(0, 200)}`);
    if (body) assert.match(res.body, body, path);
  }
});

test('cookies are Secure with COOKIE_SECURE=true, or behind a trusted proxy that says HTTPS', async (t) => {
  const { db } = await seededPanel(t, 'sqlite');
  const secureCookie = async (env: Record<string, string>, headers: Record<string, string> = {}) => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const panel = await startAdminPanel({ port: 0, host: '127.0.0.1', target: db.target, sessionSecret: SESSION_SECRET }).finally(() => {
      for (const key of Object.keys(env)) if (saved[key] === undefined) delete process.env[key];
    });
    try {
      const res = await fetch(`${panel.url}/login`, { headers });
      return res.headers.getSetCookie().join('\n');
    } finally {
      await panel.close();
    }
  };
  assert.match(await secureCookie({ COOKIE_SECURE: 'true' }), /; Secure/);
  assert.match(await secureCookie({ TRUST_PROXY: '127.0.0.1' }, { 'x-forwarded-proto': 'https' }), /; Secure/);
  assert.doesNotMatch(await secureCookie({ TRUST_PROXY: '10.0.0.0/8,::1' }, { 'x-forwarded-proto': 'https' }), /; Secure/, 'a peer that is not a trusted proxy is not believed');
  assert.doesNotMatch(await secureCookie({}, { 'x-forwarded-proto': 'https' }), /; Secure/, 'an untrusted header is ignored');
  // Production: Secure and __Host- by default (no sibling subdomain or plain-HTTP page can set them); COOKIE_SECURE=false for a plain-HTTP test.
  const production = await secureCookie({ NODE_ENV: 'production' });
  assert.match(production, /^__Host-rastar_login=[^;]+; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Lax$/m, production);
  const plain = await secureCookie({ NODE_ENV: 'production', COOKIE_SECURE: 'false' });
  assert.match(plain, /^rastar_login=/m, plain);
  assert.doesNotMatch(plain, /; Secure|__Host-/, plain);
});

test('in production a login over the proxy keeps its __Host- session, and logout ends it', async (t) => {
  const saved = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  t.after(() => (saved === undefined ? delete process.env.NODE_ENV : (process.env.NODE_ENV = saved)));
  const { panel } = await seededPanel(t, 'sqlite');
  const admin = new PanelClient(panel.url);
  const login = await admin.login();
  assert.equal(login.status, 302, login.body.slice(0, 200));
  assert.ok(admin.cookies.has(`__Host-${SESSION_COOKIE}`), [...admin.cookies.keys()].join(', '));
  assert.equal((await admin.get('/packs')).status, 200);
  assert.equal((await admin.post('/logout')).status, 302);
  assert.equal((await admin.get('/packs')).status, 302, 'logged out');
});

describe('the admin-panel script', () => {
  test('in production it refuses to start without SESSION_SECRET (one line, exit 2) or with a short one', async () => {
    const missing = await runScript('admin-panel', [], { env: { NODE_ENV: 'production', SESSION_SECRET: '', SESSION_SECRET_FILE: '', PORT: String(await freePort()) } });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.trim(), 'Error: SESSION_SECRET (or SESSION_SECRET_FILE) is required in production: 32 or more random characters, e.g. from: openssl rand -base64 48');
    const short = await runScript('admin-panel', [], { env: { SESSION_SECRET: 'too-short', PORT: String(await freePort()) } });
    assert.equal(short.code, 2);
    assert.equal(short.stderr.trim(), 'Error: SESSION_SECRET must be at least 32 characters long (it has 9)');
  });

  test('with SESSION_SECRET_FILE in production: logs logins, never the password or the secret', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } })).code, 0);
    const seeded = await runScript('seed', [], { env: { DATABASE_URL: db.url, ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password } });
    assert.equal(seeded.code, 0, seeded.stderr);
    const secretFile = join(tempDir(t), 'session_secret');
    writeFileSync(secretFile, `${SESSION_SECRET}\n`);
    const port = await freePort();
    const running = startScript(t, 'admin-panel', [], { DATABASE_URL: db.url, PORT: String(port), NODE_ENV: 'production', SESSION_SECRET: '', SESSION_SECRET_FILE: secretFile });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, (res) => res.ok, { running });
    const browser = new PanelClient(`http://127.0.0.1:${port}`);
    assert.equal((await browser.login(ADMIN.username, 'not it')).status, 401);
    assert.equal((await browser.login()).status, 302);
    assert.equal((await browser.get('/migrations')).status, 200);
    // The panel logs after it answers: wait for the lines, however slow the machine.
    await until('the login lines in the log', () => /^Admin admin logged in from /m.test(running.output()));
    const output = running.output();
    assert.match(output, /^Failed login for admin from /m);
    assert.match(output, /^Admin admin logged in from /m);
    assert.doesNotMatch(output, /Warning: SESSION_SECRET/);
    for (const secret of [ADMIN.password, 'not it', SESSION_SECRET, serverPassword()]) assert.ok(!output.includes(secret), `output shows a secret: ${output}`);
  });
});
