/**
 * The admin panel against what an attacker sends: redirect targets that a browser reads
 * as another site, control characters and malformed bodies where the panel expects
 * text. Each case answers with a 4xx page carrying the panel's headers, never a 500.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
