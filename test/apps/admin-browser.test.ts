/**
 * The admin panel in a real browser (Debian's Chromium through playwright-core),
 * on SQLite and on PostgreSQL with seeded data: login, every page, setting the
 * default pack, logout. A screenshot of each page goes to test/artifacts/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { projectRoot } from '../../src/db.ts';
import { ADMIN, seededPanel } from '../fixtures/panel.ts';
import { PROVIDERS } from '../helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(projectRoot, 'test', 'artifacts');

let browser: Browser;
before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
after(() => browser?.close());

for (const provider of PROVIDERS) {
  describe(`admin panel in Chromium on ${provider}`, () => {
    test('wrong password refused; login; every page shows the seeded rows; a new default pack; logout; a protected page then redirects to login', async (t) => {
      const { panel, ids, client } = await seededPanel(t, provider);
      const context = await browser.newContext();
      t.after(() => context.close());
      const page = await context.newPage();
      const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${provider}-${name}.png`), fullPage: true });
      const path = (p: Page) => new URL(p.url()).pathname;

      await page.goto(`${panel.url}/packs`);
      assert.equal(path(page), '/login', 'a protected page sends the browser to the login');
      await page.fill('input[name=username]', ADMIN.username);
      await page.fill('input[name=password]', 'not the password');
      await page.click('button[type=submit]');
      assert.equal(await page.textContent('[role=alert]'), 'Wrong user name or password.');
      assert.equal(await page.inputValue('input[name=password]'), '', 'the password is not sent back');
      await shot('login-refused');

      await page.fill('input[name=password]', ADMIN.password);
      await page.click('button[type=submit]');
      assert.equal(path(page), '/packs', 'back to the page asked for');

      await page.goto(`${panel.url}/migrations`);
      const states = await page.$$eval('#migrations tbody tr td:nth-child(2)', (cells) => cells.map((c) => c.textContent));
      assert.ok(states.length >= 5 && states.every((s) => s === 'applied'), JSON.stringify(states));
      assert.equal(await page.textContent('#readiness'), 'ready');
      await page.click('button:has-text("Run the production check")');
      assert.match((await page.textContent('#check-result p')) ?? '', /✓ The database matches this release\./);
      assert.equal(await page.textContent('[data-check=drift] td:nth-child(2)'), '✓');
      await shot('migrations');

      await page.goto(`${panel.url}/users`);
      assert.match((await page.textContent('nav.pager')) ?? '', /Page 1 of 2 \(30 in all\)/);
      await page.fill('input[name=q]', 'alice');
      await page.click('button:has-text("Search")');
      assert.deepEqual(await page.$$eval('#users tbody tr td:nth-child(3)', (cells) => cells.map((c) => c.textContent)), ['alice']);
      await shot('users');
      await page.click('#users >> text=alice');
      assert.equal(path(page), `/users/${ids.alice}`);
      await shot('user');
      await page.click('text=Rabbit hole');
      assert.equal(path(page), `/threads/${ids.thread}`);
      assert.match((await page.textContent(`#message-${ids.followUp} .reply`)) ?? '', /in reply to #\d+ \(assistant\): Deeper than it looks\./);
      await shot('thread');

      await page.goto(`${panel.url}/tool-logs`);
      await page.selectOption('select[name=success]', 'false');
      await page.click('button:has-text("Filter")');
      assert.deepEqual(await page.$$eval('#tool-logs tbody tr td:nth-child(2)', (cells) => cells.map((c) => c.textContent)), ['weather']);
      await shot('tool-logs');
      await page.click(`#tool-logs >> text=#${ids.followUp}`);
      assert.equal(path(page), `/threads/${ids.thread}`, 'a log links to its message');

      await page.goto(`${panel.url}/packs`);
      assert.equal(await page.textContent('tr[data-pack=Default] .default'), 'default');
      await page.click('tr[data-pack=Kids] >> text=Make default');
      assert.equal(await page.textContent('[role=status]'), '✓ Kids is now the default pack');
      assert.equal(await page.textContent('tr[data-pack=Kids] .default'), 'default');
      assert.equal(await page.$('tr[data-pack=Default] .default'), null);
      assert.deepEqual((await client.pack.findMany({ where: { isDefault: true } })).map((p) => p.name), ['Kids']);
      await shot('packs');

      await page.click('button:has-text("Log out")');
      assert.equal(path(page), '/login');
      await page.goto(`${panel.url}/users`);
      assert.equal(path(page), '/login', 'after logout the pages are closed again');
    });
  });
}

test('a login link whose next= a browser reads as another site (/%09/evil.example) keeps Chromium on the panel, logged in or not', async (t) => {
  const { panel } = await seededPanel(t, 'sqlite');
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const phishing = `${panel.url}/login?next=%2F%09%2Fevil.example%2Fphish`;
  await page.goto(phishing);
  await page.fill('input[name=username]', ADMIN.username);
  await page.fill('input[name=password]', ADMIN.password);
  await page.click('button[type=submit]');
  assert.equal(new URL(page.url()).origin, new URL(panel.url).origin, page.url());
  assert.equal(new URL(page.url()).pathname, '/migrations');
  await page.goto(phishing); // already logged in: the login page sends the browser on at once
  assert.equal(new URL(page.url()).origin, new URL(panel.url).origin, page.url());
  assert.equal(new URL(page.url()).pathname, '/migrations');
});
