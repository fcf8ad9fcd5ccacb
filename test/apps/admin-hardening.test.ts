/**
 * The admin panel against what an attacker sends: redirect targets that a browser reads
 * as another site, control characters and malformed bodies where the panel expects
 * text. Each case answers with a 4xx page carrying the panel's headers, never a 500.
 * And text that must stay data: `_` and `%` in a search, newlines in what is logged,
 * an excerpt of emoji (the layout and bidi cases are in admin-browser.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword } from '../../src/seed.ts';
import { excerpt } from '../../src/apps/admin/views.ts';
import { ADMIN, PanelClient, seededPanel } from '../fixtures/panel.ts';
import { PROVIDERS } from '../helpers.ts';

/** The panel's own headers, on every answer it gives. */
function assertPanelHeaders(headers: Headers, what: string): void {
  assert.equal(headers.get('x-content-type-options'), 'nosniff', what);
  assert.match(headers.get('content-security-policy') ?? '', /default-src 'self'/, what);
  assert.equal(headers.get('cache-control'), 'no-store', what);
}

test('a next= that a browser reads as another site never leaves the panel: tab, newline, backslash, scheme; a control character is re-encoded, never a 500', async (t) => {
  const { panel } = await seededPanel(t, 'sqlite');
  const admin = new PanelClient(panel.url);
  await admin.login();
  const offsite = ['/%09/evil.example/phish', '/%0A/evil.example', '/%0D%0A/evil.example', '/%5Cevil.example', '/%5C%09evil.example', '//evil.example', 'https://evil.example', '%09//evil.example'];
  for (const next of offsite) {
    const res = await admin.get(`/login?next=${next}`);
    assert.equal(res.status, 302, next);
    assert.equal(res.location, '/migrations', `${next}: a logged-in admin is sent to the panel's own page`);
    // Logging in with it: the right password lands on the panel's own page.
    const visitor = new PanelClient(panel.url);
    const posted = await visitor.request('/login', { form: { _csrf: await visitor.token('/login'), username: ADMIN.username, password: ADMIN.password, next: decodeURIComponent(next) } });
    assert.equal(posted.status, 302, next);
    assert.equal(posted.location, '/migrations', next);
  }
  for (const [next, location] of [
    ['%2Fpacks%3Fdone%3Dcreated', '/packs?done=created'],
    ['%2Fpa%00cks%01', '/pa%00cks'], // a trailing control character dropped, as a browser drops it
  ] as const) {
    const res = await admin.get(`/login?next=${next}`);
    assert.equal(res.status, 302, next);
    assert.equal(res.location, location, next);
    assertPanelHeaders(res.headers, next);
  }
});

for (const provider of PROVIDERS) {
  test(`malformed input on ${provider}: a NUL in the login name, in a search, a malformed multipart login; 400 pages with the panel's headers`, async (t) => {
    const { panel } = await seededPanel(t, provider);
    const anonymous = new PanelClient(panel.url);
    const nul = await anonymous.request('/login', { form: { _csrf: await anonymous.token('/login'), username: 'ad\u0000min', password: 'whatever' } });
    assert.equal(nul.status, 400, nul.body.slice(0, 200));
    assert.match(nul.body, /Enter a user name and a password\./);
    assertPanelHeaders(nul.headers, 'NUL login');

    const multipart = await fetch(`${panel.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nadmin\r\n--xy',
      redirect: 'manual',
    });
    assert.equal(multipart.status, 400, await multipart.clone().text());
    assert.match(await multipart.text(), /The form could not be read\./);
    assertPanelHeaders(multipart.headers, 'malformed multipart');

    const admin = new PanelClient(panel.url);
    await admin.login();
    for (const path of ['/users?q=%00', '/tool-logs?tool=a%00b', '/tool-logs?session=%1B']) {
      const res = await admin.get(path);
      assert.equal(res.status, 400, `${path}: ${res.body.slice(0, 200)}`);
      assert.match(res.body, /must not hold control characters/, path);
      assertPanelHeaders(res.headers, path);
    }
  });
}

/** The usernames in the users table of a page, in order. */
const listedUsernames = (body: string) => [...body.matchAll(/<tr><td><a href="\/users\/\d+">\d+<\/a><\/td><td>\d+<\/td><td>(.*?)<\/td>/g)].map((m) => (m[1] ?? '').replace(/<[^>]*>/g, ''));

for (const provider of PROVIDERS) {
  test(`the users search on ${provider} takes _, % and \\ as themselves, never as LIKE wildcards or an escape`, async (t) => {
    const { panel, client } = await seededPanel(t, provider);
    const now = BigInt(Date.now());
    for (const [i, username] of ['under_score', '100%sure', 'back\\slash'].entries()) {
      await client.user.create({ data: { telegramId: 9_000_000_001n + BigInt(i), username, createdAt: now, updatedAt: now } });
    }
    const admin = new PanelClient(panel.url);
    await admin.login();
    const cases: [string, string[]][] = [
      ['_', ['under_score']],
      ['R_S', ['under_score']],
      ['user_', []],
      ['%', ['100%sure']],
      ['0%S', ['100%sure']],
      ['%%', []],
      ['\\', ['back\\slash']],
      ['K\\s', ['back\\slash']],
      ['\\_', []],
      ['\\%', []],
      ['user0', ['user02', 'user03', 'user04', 'user05', 'user06', 'user07', 'user08', 'user09']],
    ];
    for (const [q, expected] of cases) {
      const res = await admin.get(`/users?q=${encodeURIComponent(q)}`);
      assert.equal(res.status, 200, `${q}: ${res.body.slice(0, 200)}`);
      assert.deepEqual(listedUsernames(res.body), expected, q);
    }
  });
}

test('one event, one log line: a newline in a request path or a login name, a line separator in an admin\'s name, are written as visible escapes', async (t) => {
  const { panel, client, db, logged } = await seededPanel(t, 'sqlite');
  const forged = 'Admin admin logged in from 10.0.0.1';
  // The seed takes any name; the login form refuses control characters, not U+2028 LINE SEPARATOR.
  const now = BigInt(Date.now());
  await client.adminUser.create({ data: { username: `eve\u2028${forged}`, passwordHash: await hashPassword('eve-password-1234'), createdAt: now, updatedAt: now } });
  const visitor = new PanelClient(panel.url);
  const refused = await visitor.request('/login', { form: { _csrf: await visitor.token('/login'), username: `nobody\n${forged}`, password: 'whatever' } });
  assert.equal(refused.status, 400);
  assert.equal((await visitor.login(`eve\u2028${forged}`, 'not her password')).status, 401);
  assert.equal((await visitor.login(`eve\u2028${forged}`, 'eve-password-1234')).status, 302);
  // An error on a path holding %0A: the admins' table disappears under a logged-in session.
  const conn = await db.connect();
  await conn.exec('ALTER TABLE "AdminUser" RENAME TO "AdminUser_gone"');
  const failed = await visitor.get(`/nope%0A${encodeURIComponent(forged)}`);
  assert.ok(failed.status >= 500, String(failed.status));

  assert.equal(logged.length, 4, JSON.stringify(logged, null, 1));
  for (const line of logged) assert.doesNotMatch(line, /[\n\r\v\f\u001c-\u001e\u0085\u2028\u2029]/, `one line each: ${JSON.stringify(line)}`);
  assert.equal(logged[0], 'Failed login (a control character in the user name) from 127.0.0.1');
  assert.equal(logged[1], `Failed login for eve\\u{2028}${forged} from 127.0.0.1`);
  assert.equal(logged[2], `Admin eve\\u{2028}${forged} logged in from 127.0.0.1`);
  assert.match(logged[3] ?? '', new RegExp(`^Error on GET /nope\\\\n${forged}: `));
});

test('an excerpt is cut between characters as a reader sees them: never half an emoji, a flag or a family', () => {
  assert.equal(excerpt('😀'.repeat(100)), `${'😀'.repeat(79)}…`);
  assert.equal(excerpt('😀'.repeat(80)), '😀'.repeat(80), 'eighty emoji are eighty characters: nothing cut');
  assert.equal(excerpt('🇫🇷🇩🇪'.repeat(50), 5), '🇫🇷🇩🇪🇫🇷🇩🇪…');
  assert.equal(excerpt('👨‍👩‍👧'.repeat(10), 3), '👨‍👩‍👧👨‍👩‍👧…');
  assert.equal(excerpt('short'), 'short');
  for (const text of ['😀'.repeat(100), `a${'😀'.repeat(100)}`, '🇫🇷'.repeat(200), 'é'.normalize('NFD').repeat(100)]) {
    for (const length of [1, 2, 3, 80, 300]) assert.doesNotMatch(excerpt(text, length), /\p{Cs}/u, `no lone surrogate in the first ${length} of ${text.slice(0, 8)}…`);
  }
});

test('the security headers agree: frames refused by the CSP and X-Frame-Options alike, no <base> or plugin content, on pages and errors', async (t) => {
  const { panel } = await seededPanel(t, 'sqlite');
  const anonymous = new PanelClient(panel.url);
  for (const path of ['/login', '/nope', '/healthz']) {
    const res = await anonymous.get(path);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
    assert.match(csp, /base-uri 'none'/, path);
    assert.match(csp, /object-src 'none'/, path);
  }
});
