/**
 * Admin sessions outlive what they must and nothing else: a logout survives a restart of
 * the panel (the secret is fixed, as in production), "log out everywhere" and a new
 * password end every session, and an old login form is refused by the server's clock.
 * On both providers: the sessions are rows of the database.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAdminPanel } from '../../src/apps/admin-panel.ts';
import { SESSION_COOKIE } from '../../src/apps/admin/session.ts';
import { ADMIN, PanelClient, SESSION_SECRET, seededPanel } from '../fixtures/panel.ts';
import { PROVIDERS, runScript } from '../helpers.ts';

for (const provider of PROVIDERS) {
  test(`on ${provider}: a logged-out cookie stays refused after the panel restarts, its old CSRF token with it`, async (t) => {
    const { db, panel } = await seededPanel(t, provider);
    const browser = new PanelClient(panel.url);
    assert.equal((await browser.login()).status, 302);
    const cookie = browser.cookies.get(SESSION_COOKIE) as string;
    const token = await browser.token('/packs');
    assert.equal((await browser.post('/logout')).status, 302);
    await panel.close();

    const restarted = await startAdminPanel({ port: 0, host: '127.0.0.1', target: db.target, sessionSecret: SESSION_SECRET });
    t.after(() => restarted.close());
    const thief = new PanelClient(restarted.url);
    thief.cookies.set(SESSION_COOKIE, cookie);
    assert.equal((await thief.get('/packs')).status, 302, 'the logged-out cookie opens nothing');
    const forged = await thief.request('/packs', { form: { _csrf: token, name: 'Replayed' } });
    assert.equal(forged.status, 401, 'nor does its form');

    // A session that did not log out lives on across the restart, as it should.
    const kept = new PanelClient(restarted.url);
    assert.equal((await kept.login()).status, 302);
    const again = await startAdminPanel({ port: 0, host: '127.0.0.1', target: db.target, sessionSecret: SESSION_SECRET });
    t.after(() => again.close());
    const returning = new PanelClient(again.url);
    returning.cookies.set(SESSION_COOKIE, kept.cookies.get(SESSION_COOKIE) as string);
    assert.equal((await returning.get('/packs')).status, 200);
  });
}

test('log out everywhere ends every session of the admin; a new password (make seed RESET_PASSWORD=1) does too', async (t) => {
  const { db, panel, logged } = await seededPanel(t, 'sqlite');
  const laptop = new PanelClient(panel.url);
  const phone = new PanelClient(panel.url);
  assert.equal((await laptop.login()).status, 302);
  assert.equal((await phone.login()).status, 302);
  const everywhere = await laptop.post('/logout/everywhere');
  assert.equal(everywhere.status, 302);
  assert.equal(everywhere.location, '/login');
  assert.equal((await phone.get('/packs')).status, 302, 'the other device is logged out');
  assert.equal((await laptop.get('/packs')).status, 302);
  assert.ok(logged.includes(`Admin ${ADMIN.username} logged out everywhere`), logged.join('\n'));

  assert.equal((await phone.login()).status, 302);
  const renewed = `${ADMIN.password} renewed`;
  const reset = await runScript('seed', ['--reset-password'], { env: { DATABASE_URL: db.url, ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: renewed } });
  assert.equal(reset.code, 0, reset.stderr);
  assert.equal((await phone.get('/packs')).status, 302, 'a new password ends the sessions opened with the old one');
  assert.equal((await phone.login(ADMIN.username, ADMIN.password)).status, 401);
  assert.equal((await phone.login(ADMIN.username, renewed)).status, 302);
});

test('the login form expires by the server’s clock, whatever the browser keeps: an hour-old nonce is refused', async (t) => {
  let now = Date.now();
  const { panel } = await seededPanel(t, 'sqlite', { clock: () => now });
  const browser = new PanelClient(panel.url);
  const token = await browser.token('/login');
  now += 3600 * 1000;
  const late = await browser.request('/login', { form: { _csrf: token, username: ADMIN.username, password: ADMIN.password } });
  assert.equal(late.status, 403);
  assert.match(late.body, /The login form expired: please try again\./);
  const fresh = await browser.login();
  assert.equal(fresh.status, 302, 'a new form works');
});
