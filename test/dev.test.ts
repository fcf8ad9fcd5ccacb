import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openConnection, parseDatabaseUrl } from '../src/db.ts';
import { PanelClient } from './fixtures/panel.ts';
import { tempDir } from './helpers.ts';
import { exitWithin, freePort, startScript, waitForHttp } from './processes.ts';

const PASSWORD = 'dev-pa55word-never-printed';

describe('make dev', () => {
  test('migrates and seeds a new SQLite database, serves the admin panel until Ctrl-C, then exits 0', async (t) => {
    const url = `file:${join(tempDir(t), 'dev.db')}`;
    const port = await freePort();
    const dev = startScript(t, 'dev', [], { DATABASE_URL: url, PORT: String(port), ADMIN_USERNAME: '', ADMIN_PASSWORD: PASSWORD, DEFAULT_PACK_NAME: '', TELEGRAM_BOT_TOKEN: '' });
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, (res) => res.status === 200, { running: dev, timeoutMs: 90_000 });

    const conn = await openConnection(parseDatabaseUrl(url), { readonly: true });
    try {
      assert.deepEqual((await conn.query<{ username: string }>('SELECT "username" FROM "AdminUser"')).map((r) => r.username), ['admin']);
      assert.deepEqual((await conn.query<{ name: string; isDefault: number }>('SELECT "name", "isDefault" FROM "Pack"')).map((r) => [r.name, r.isDefault]), [['Default', 1]]);
    } finally {
      await conn.close();
    }

    dev.child.kill('SIGINT');
    const exit = await exitWithin(dev, 5000);
    assert.deepEqual(exit, { code: 0, signal: null }, dev.output());
    const output = dev.output();
    for (const line of ['[1/4] Generate Prisma clients', '[2/4] Verify the database', '[3/4] Seed the database', '✓ Admin user admin created', 'TELEGRAM_BOT_TOKEN is not set: starting only the admin panel', 'Warning: SESSION_SECRET is not set: sessions use a random secret and end when the panel stops (set it in production)', `Admin panel listening on http://127.0.0.1:${port} (log in as admin)`, 'Admin panel stopped']) {
      assert.ok(output.includes(line), `missing "${line}" in:\n${output}`);
    }
    assert.ok(!output.includes(PASSWORD), 'the password is never printed');
  });

  test('a newcomer without ADMIN_PASSWORD gets an admin with a generated password, printed once, that logs in; the panel listens on 127.0.0.1', async (t) => {
    const url = `file:${join(tempDir(t), 'dev.db')}`;
    const port = await freePort();
    const dev = startScript(t, 'dev', [], { DATABASE_URL: url, PORT: String(port), ADMIN_USERNAME: '', ADMIN_PASSWORD: '', DEFAULT_PACK_NAME: '', TELEGRAM_BOT_TOKEN: '', HOST: '' });
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, (res) => res.status === 200, { running: dev, timeoutMs: 90_000 });
    const generated = /^✓ Admin user admin created with a generated password \(shown this once\): (\S+)$/m.exec(dev.output())?.[1];
    assert.ok(generated && generated.length >= 12, dev.output());
    assert.match(dev.output(), /^ {2}To choose your own \(12 characters or more\): ADMIN_PASSWORD=… make seed RESET_PASSWORD=1/m);
    assert.match(dev.output(), new RegExp(`^Admin panel listening on http://127\\.0\\.0\\.1:${port} \\(log in as admin\\)$`, 'm'));
    const browser = new PanelClient(`http://127.0.0.1:${port}`);
    const login = await browser.login('admin', generated);
    assert.equal(login.status, 302, login.body.slice(0, 300));
    dev.child.kill('SIGINT');
    assert.deepEqual(await exitWithin(dev, 5000), { code: 0, signal: null }, dev.output());
    assert.equal(dev.output().split(generated).length - 1, 1, 'printed once');
  });

  test('a failing step stops with its exit code and starts nothing', async (t) => {
    const secret = 'dev-db-s3cret';
    const port = await freePort();
    const dev = startScript(t, 'dev', [], { DATABASE_URL: `postgresql://rastar:${secret}@127.0.0.1:${await freePort()}/rastar`, DB_CONNECT_TIMEOUT: '0', PORT: String(port), ADMIN_PASSWORD: PASSWORD });
    const exit = await exitWithin(dev, 60_000);
    const output = dev.output();
    assert.equal(exit.code, 1, output);
    assert.match(output, /✗ Verify the database failed \(exit code 1\): nothing was started/);
    assert.ok(!output.includes('[3/4]') && !output.includes('listening'), output);
    assert.ok(!output.includes(secret) && !output.includes(PASSWORD), output);
  });
});
