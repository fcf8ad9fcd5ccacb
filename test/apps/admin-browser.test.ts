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
      assert.equal(await page.textContent('[role=status]'), '✓ \u2068Kids\u2069 is now the default pack', 'the pack\'s name isolated (FSI…PDI)');
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

/** Where each character of `text` (the first text node under `selector` that holds it) is drawn: its left edge, in stored order. */
function charLefts(page: Page, selector: string, text: string): Promise<number[]> {
  return page.$eval(
    selector,
    (root, text) => {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = (node.textContent ?? '').indexOf(text);
        if (at < 0) continue;
        const found = node;
        return Array.from(text, (_, k) => {
          const range = document.createRange();
          range.setStart(found, at + k);
          range.setEnd(found, at + k + 1);
          return range.getBoundingClientRect().left;
        });
      }
      throw new Error(`no text node under the element holds "${text}"`);
    },
    text,
  );
}

const readsLeftToRight = (lefts: number[]) => lefts.every((x, i) => i === 0 || x > (lefts[i - 1] as number));

async function loggedIn(t: { after: (fn: () => Promise<void>) => void }, url: string): Promise<Page> {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(`${url}/login`);
  await page.fill('input[name=username]', ADMIN.username);
  await page.fill('input[name=password]', ADMIN.password);
  await page.click('button[type=submit]');
  return page;
}

test('a user\'s name with bidirectional controls (U+202E, a stray U+2069, U+2029) cannot reorder the panel\'s own text next to it', async (t) => {
  const { panel, client } = await seededPanel(t, 'sqlite');
  const now = BigInt(Date.now());
  const mallory = await client.user.create({
    data: { telegramId: 9_000_000_001n, username: '\u202Eeve', firstName: 'Mal\u2069\u202Elory', lastName: 'x\u2029\u202Ey', languageCode: 'en', createdAt: now, updatedAt: now },
  });
  const thread = await client.thread.create({ data: { userId: mallory.id, chatId: -100123n, title: '\u202Erabbit', createdAt: now, updatedAt: now } });
  await client.message.create({ data: { threadId: thread.id, role: 'user', content: '\u202Ehello', createdAt: now } });
  const page = await loggedIn(t, panel.url);

  await page.goto(`${panel.url}/threads/${thread.id}`);
  const chat = await charLefts(page, 'main > p', 'chat -100123 · 1 messages');
  assert.ok(readsLeftToRight(chat), `the chat id reads -100123, drawn at ${JSON.stringify(chat)}`);
  await page.screenshot({ path: join(ARTIFACTS, 'thread-bidi.png'), fullPage: true });

  await page.goto(`${panel.url}/users/${mallory.id}`);
  const label = await charLefts(page, 'main > p', ' · language ');
  assert.ok(readsLeftToRight(label), `" · language " after the name reads in its order, drawn at ${JSON.stringify(label)}`);
  await page.screenshot({ path: join(ARTIFACTS, 'user-bidi.png'), fullPage: true });
});

test('a thread whose message holds a 4,096-character URL, and long unbroken names and titles, stay as wide as the viewport', async (t) => {
  const { panel, client } = await seededPanel(t, 'sqlite');
  const now = BigInt(Date.now());
  const url = `https://example.com/search?q=${'x'.repeat(4096 - 'https://example.com/search?q='.length)}`;
  assert.equal(url.length, 4096);
  const long = 'w'.repeat(600);
  const user = await client.user.create({ data: { telegramId: 9_000_000_002n, username: `u${long}`, firstName: `f${long}`, createdAt: now, updatedAt: now } });
  const thread = await client.thread.create({ data: { userId: user.id, chatId: 42n, title: `t${long}`, createdAt: now, updatedAt: now } });
  const message = await client.message.create({ data: { threadId: thread.id, role: 'user', content: `See ${url} for details.`, createdAt: now } });
  await client.message.create({ data: { threadId: thread.id, role: 'assistant', content: url, replyToMessageId: message.id, replyToText: url, createdAt: now } });
  await client.mcpToolLog.create({ data: { toolName: `tool${long}`, input: url, output: url, success: true, durationMs: 1, sessionId: `s${long}`, messageId: message.id, createdAt: now } });
  const page = await loggedIn(t, panel.url);

  for (const path of [`/threads/${thread.id}`, `/users/${user.id}`, '/users?page=2', '/tool-logs']) {
    await page.goto(`${panel.url}${path}`);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.scrollingElement?.scrollWidth ?? 0, innerWidth: window.innerWidth }));
    assert.ok(scrollWidth > 0 && scrollWidth <= innerWidth, `${path}: the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`);
    if (path.startsWith('/threads/')) await page.screenshot({ path: join(ARTIFACTS, 'thread-long-url.png'), fullPage: true });
  }
});
