/**
 * The image built from docker/Dockerfile by a real container engine (podman, see
 * test/container/engine.sh) and run as a platform runs it: the migrating panel and the
 * waiting bot against a real PostgreSQL, their health through each phase, the non-root
 * user, a read-only root filesystem with every capability dropped, `npx prisma migrate
 * status` by exec, backups of each server major, and docker/docker-compose.yml with
 * podman-compose. `make test-container` builds the image and runs this file; without
 * RASTAR_IMAGE (a plain `npm test`) it is skipped.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { openConnection, parseDatabaseUrl, projectRoot, withDatabase, type DatabaseTarget } from '../../src/db.ts';
import { readHistory } from '../../src/runtime/history.ts';
import { runScript, tempDir, testDatabase, type RunResult } from '../helpers.ts';
import { startFakeTelegram } from '../fixtures/fake-telegram.ts';
import { PanelClient } from '../fixtures/panel.ts';
import { freePort } from '../processes.ts';
import { until } from '../entrypoint/harness.ts';
import { startPostgresMajor } from '../postgres-major.ts';

const IMAGE = process.env.RASTAR_IMAGE;
const ENGINE = join(projectRoot, 'test', 'container', 'engine.sh');
const skip = IMAGE ? false : 'the image is built and tested by `make test-container`';
const LOCK_KEY = 72707369;
const SECRETS = ['-e', 'ADMIN_USERNAME=admin', '-e', 'ADMIN_PASSWORD=admin-pass-123456', '-e', 'SESSION_SECRET=0123456789abcdef0123456789abcdef-engine'];
/** What compose asks of both apps: nothing writable but the tmpfs and the volumes, no capabilities. */
const HARDENED = ['--read-only', '--read-only-tmpfs=false', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];

function engine(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(ENGINE, args, { cwd: options.cwd ?? projectRoot, env: { ...process.env, ...options.env }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}
const podman = (...args: string[]) => engine(['podman', ...args]);
const show = (r: RunResult) => `exit ${r.code}\n${r.stdout}${r.stderr}`;

/** A container started detached, removed (with its anonymous volumes) when the test ends. */
async function runDetached(t: TestContext, name: string, args: string[]): Promise<string> {
  const started = await podman('run', '-d', '--name', name, '--network', 'host', ...args);
  t.after(async () => {
    await podman('rm', '-f', '-v', name);
  });
  assert.equal(started.code, 0, show(started));
  return name;
}

const logs = async (name: string) => {
  const r = await podman('logs', name);
  return r.stdout + r.stderr;
};

/** `podman healthcheck run` (what the platform's scheduler runs), then the check's own line from the container's health log. */
async function healthcheck(name: string): Promise<{ status: string; line: string; code: number }> {
  const run = await podman('healthcheck', 'run', name);
  const inspected = await podman('inspect', name, '--format', '{{json .State.Healthcheck}}');
  const health = JSON.parse(inspected.stdout || '{}') as { Status?: string; Log?: { Output: string; ExitCode: number }[] };
  const last = health.Log?.at(-1);
  return { status: health.Status ?? '', line: (last?.Output ?? '').trim(), code: run.code };
}

/** Hold the migration lock from a session of our own, as a migrator that is still working would. */
async function holdMigrationLock(t: TestContext, target: DatabaseTarget): Promise<() => Promise<void>> {
  const conn = await openConnection(target);
  await conn.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await conn.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
    await conn.close();
  };
  t.after(release);
  return release;
}

describe('the image under a real container engine', { skip, timeout: 1_200_000 }, () => {
  const image = IMAGE!;
  const migrations = () => readHistory('postgresql').migrations.map((m) => m.name);

  test('the image: runs as node, owns none of its code, a health check of its own, the size recorded', async () => {
    const inspected = await podman('image', 'inspect', image, '--format', '{{.Config.User}}|{{json .Config.Healthcheck}}|{{.Size}}');
    assert.equal(inspected.code, 0, show(inspected));
    const [user, healthcheckJson, size] = inspected.stdout.trim().split('|');
    assert.equal(user, 'node');
    assert.match(healthcheckJson!, /dist\/scripts\/healthcheck\.js/);
    console.log(`# image ${image}: ${Math.round(Number(size) / 1e6)} MB`);

    // Root owns the code; the runtime user writes only data/ and backups/.
    const probe = await podman('run', '--rm', '--entrypoint', 'sh', image, '-c',
      'id -u; for p in dist/scripts/admin-panel.js prisma/migrations bin/schema-engine node_modules/prisma scripts/docker-entrypoint.sh data backups; do if [ -w "$p" ]; then echo "$p writable"; else echo "$p read-only"; fi; done');
    assert.equal(probe.code, 0, show(probe));
    assert.deepEqual(probe.stdout.trim().split('\n'), [
      '1000',
      'dist/scripts/admin-panel.js read-only',
      'prisma/migrations read-only',
      'bin/schema-engine read-only',
      'node_modules/prisma read-only',
      'scripts/docker-entrypoint.sh read-only',
      'data writable',
      'backups writable',
    ]);
    // What production never loads is not in it.
    const absent = await podman('run', '--rm', '--entrypoint', 'sh', image, '-c',
      'for p in node_modules/typescript node_modules/tsx node_modules/better-sqlite3/deps src test .env; do [ -e "$p" ] && echo "$p present"; done; ls node_modules/@prisma/client/runtime | grep -c mysql; ls /usr/lib/postgresql');
    assert.match(absent.stdout, /^0$/m, show(absent));
    assert.doesNotMatch(absent.stdout, /present/, show(absent));
    assert.match(absent.stdout, /^1[5-8]$/m, 'at least one PostgreSQL client major');
  });

  test('the migrating panel, read-only and without capabilities: starting while it waits and migrates, alive past the start period, healthy once it serves', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const release = await holdMigrationLock(t, db.target);
    const port = await freePort();
    const name = `rastar-panel-${process.pid}`;
    await runDetached(t, name, [...HARDENED, '-e', `DATABASE_URL=${db.url}`, '-e', 'RUN_MIGRATIONS=true', '-e', `PORT=${port}`, '-e', 'MIGRATION_LOCK_TIMEOUT=600', '-e', 'HEALTH_START_PERIOD=3600', ...SECRETS, image, 'admin-panel']);

    // The deploy waits for the lock we hold: the entrypoint is migrating, alive, not healthy.
    await until('the panel waits for the migration lock', async () => /Waiting for the migration lock, held by/.test(await logs(name)), 120_000, 200);
    const migrating = await healthcheck(name);
    assert.match(migrating.line, /^starting: migrating for \d+ s \(alive\); the app starts when it is done$/, JSON.stringify(migrating));
    assert.equal(migrating.code, 1, 'not healthy: no traffic is routed to it yet');
    assert.equal(migrating.status, 'starting', 'within the start period a failed check is not counted');
    // Past the start period the same step is reported alive, so that the platform does not kill it.
    const alive = await podman('exec', '-e', 'HEALTH_START_PERIOD=0', name, 'node', '/app/dist/scripts/healthcheck.js');
    assert.equal(alive.code, 0, show(alive));
    assert.match(alive.stdout, /^alive: migrating for \d+ s, past the start period; the app starts when it is done$/m);

    await release();
    await until('the panel answers /readyz', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 120_000, 200);
    const healthy = await healthcheck(name);
    assert.equal(healthy.code, 0, JSON.stringify(healthy));
    assert.equal(healthy.line, `healthy: the admin panel answers /healthz on port ${port}`);
    assert.equal(healthy.status, 'healthy');
    const log = await logs(name);
    for (const migration of migrations()) assert.match(log, new RegExp(`✓ Migration applied: ${migration}`));
    assert.match(log, /✓ Admin user admin created/);

    // Non-root, read-only, no capabilities: the process cannot change its code or the root filesystem.
    const id = await podman('exec', name, 'sh', '-c', 'id -u; grep CapEff /proc/1/status; touch /app/dist/x 2>&1; touch /etc/x 2>&1; touch /tmp/x && echo tmp writable');
    assert.match(id.stdout, /^1000$/m);
    assert.match(id.stdout, /^CapEff:\s+0+$/m, 'no capabilities');
    assert.match(id.stdout, /touch: cannot touch '\/app\/dist\/x': Read-only file system/);
    assert.match(id.stdout, /touch: cannot touch '\/etc\/x': Read-only file system/);
    assert.match(id.stdout, /^tmp writable$/m);

    // The runbook's commands by exec: the official CLI on the kit's engine, and the production check.
    const status = await podman('exec', name, 'npx', 'prisma', 'migrate', 'status');
    assert.equal(status.code, 0, show(status));
    assert.match(status.stdout, new RegExp(`${migrations().length} migrations found in prisma/migrations`));
    assert.match(status.stdout, /Database schema is up to date!/);
    const check = await podman('exec', name, 'npm', 'run', '--silent', 'db:check');
    assert.equal(check.code, 0, show(check));
    assert.match(check.stdout, /All checks passed|✓/);
    assert.doesNotMatch(show(check), /tsx|Cannot find/);

    // docker stop: the panel leaves at once with 0, not after the grace period.
    const stopped = await podman('stop', '-t', '30', name);
    assert.equal(stopped.code, 0, show(stopped));
    const state = await podman('inspect', name, '--format', '{{.State.ExitCode}}');
    assert.equal(state.stdout.trim(), '0');
  });

  test('the waiting bot: starting while the schema is behind, then healthy from its poll loop heartbeat, not from the panel', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const telegram = await startFakeTelegram(t);
    const name = `rastar-bot-${process.pid}`;
    await runDetached(t, name, [...HARDENED, '-e', `DATABASE_URL=${db.url}`, '-e', 'RUN_MIGRATIONS=false', '-e', `TELEGRAM_BOT_TOKEN=${telegram.token}`, '-e', `TELEGRAM_API_URL=${telegram.url}`, '-e', 'TELEGRAM_POLL_TIMEOUT=1', '-e', 'MIGRATION_WAIT_TIMEOUT=600', image, 'telegram-bot']);
    await until('the bot waits for the schema', async () => /Waiting until the database schema is current/.test(await logs(name)), 120_000, 200);
    const waiting = await healthcheck(name);
    assert.match(waiting.line, /^starting: waiting until the schema is current for \d+ s \(alive\)/, JSON.stringify(waiting));
    assert.equal(waiting.code, 1);

    const deployed = await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } });
    assert.equal(deployed.code, 0, deployed.stderr);
    await telegram.waitForPoll(() => true, 120_000);
    const healthy = await healthcheck(name);
    assert.equal(healthy.code, 0, JSON.stringify(healthy));
    assert.match(healthy.line, /^healthy: the telegram bot's poll loop ran \d+ s ago$/);
    assert.equal(healthy.status, 'healthy');
    telegram.push({ message_id: 1, date: 0, chat: { id: 42, type: 'private' }, from: { id: 42, is_bot: false, first_name: 'A' }, text: '/start' });
    await until('the bot answers /start', () => telegram.sent.length > 0, 120_000, 100);
    assert.match(telegram.sent[0]!.text, /Welcome/);
    const stopped = await podman('stop', '-t', '30', name);
    assert.equal(stopped.code, 0, show(stopped));
  });

  test('backups before migrating pick the client of the server\'s major: a dump of each supported major restores into it', async (t) => {
    const clients = (await podman('run', '--rm', '--entrypoint', 'ls', image, '/usr/lib/postgresql')).stdout.trim().split(/\s+/).map(Number);
    const majors = ['15', '16', '17', '18'].filter((major) => major === '18' || existsSync(join(projectRoot, 'test', 'postgres-majors', 'node_modules', `postgres-${major}`)));
    const backups = tempDir(t, 'rastar-engine-backups-');
    for (const major of majors) {
      const server = await startPostgresMajor(major);
      t.after(() => server.stop());
      const serverTarget = parseDatabaseUrl(server.url) as DatabaseTarget & { provider: 'postgresql' };
      const admin = await openConnection(serverTarget);
      await admin.exec('CREATE DATABASE kit');
      await admin.close();
      const target = withDatabase(serverTarget, 'kit');
      const dir = join(backups, major);
      mkdirSync(dir);
      chmodSync(dir, 0o777); // the container's user (node) writes there
      const run = (args: string[]) =>
        podman('run', '--rm', '--network', 'host', ...HARDENED, '-v', `${dir}:/app/backups`, '-e', `DATABASE_URL=${target.url}`, '-e', 'RUN_MIGRATIONS=true', ...SECRETS, image, ...args);
      // The first deploy has nothing to lose: then a row, and a second image deploy backs it up first.
      const first = await run(['app', '--', 'true']);
      assert.equal(first.code, 0, `PostgreSQL ${major}: ${show(first)}`);
      const conn = await openConnection(target);
      await conn.exec(`INSERT INTO "Pack" (name, "createdAt", "updatedAt") VALUES ('kept-${major}', 0, 0)`);
      await conn.exec(`DELETE FROM "_prisma_migrations" WHERE migration_name = '${migrations().at(-1)}'`);
      await conn.close();
      const dumped = await run(['node', 'dist/scripts/backup.js', '--if-pending']);
      const fits = clients.some((client) => client >= Number(major));
      if (!fits) {
        assert.equal(dumped.code, 1, show(dumped));
        assert.match(dumped.stderr, new RegExp(`^Error: The newest PostgreSQL client installed is ${Math.max(...clients)} .*a PostgreSQL ${major} server needs ${major} or newer`, 'm'));
        continue;
      }
      assert.equal(dumped.code, 0, `PostgreSQL ${major}: ${show(dumped)}`);
      const [file] = readdirSync(dir).filter((f) => f.endsWith('.dump'));
      assert.ok(file, `a dump for PostgreSQL ${major}`);
      const wipe = await openConnection(target);
      await wipe.exec(`DELETE FROM "Pack" WHERE name = 'kept-${major}'`);
      await wipe.close();
      const restored = await run(['node', 'dist/scripts/restore.js', '--file', `backups/${file}`, '--confirm']);
      assert.equal(restored.code, 0, `PostgreSQL ${major}: ${show(restored)}`);
      const check = await openConnection(target);
      const rows = await check.query<{ name: string }>(`SELECT name FROM "Pack" WHERE name = 'kept-${major}'`);
      await check.close();
      assert.equal(rows.length, 1, `PostgreSQL ${major}: the row is back from the dump`);
    }
  });

  test('docker/docker-compose.yml under podman-compose: postgres, the migrating panel and the bot, read-only, healthy, the CLI by exec', async (t) => {
    const dir = tempDir(t, 'rastar-compose-');
    const override = join(dir, 'compose.override.yml');
    // What cannot come from Docker Hub here: the postgres image (a stand-in of Debian's 17), and the apps' image (built above).
    writeFileSync(override, `services:\n  postgres:\n    image: localhost/postgres-standin:17\n  admin-panel:\n    image: ${image}\n  telegram-bot:\n    image: ${image}\n`);
    const port = await freePort();
    const env = { ADMIN_PASSWORD: 'admin-pass-123456', SESSION_SECRET: '0123456789abcdef0123456789abcdef-compose', TELEGRAM_BOT_TOKEN: '123456789:AAFake-token', POSTGRES_PASSWORD: 'pg-compose-pass', ADMIN_PORT: String(port) };
    const file = join(projectRoot, 'docker', 'docker-compose.yml');
    const compose = (...args: string[]) => engine(['compose', '-p', 'rastar-test', '-f', file, '-f', override, ...args], { env });
    // down needs only the names (the override file may be gone by then); a crashed run's leftovers go first.
    const down = () => engine(['compose', '-p', 'rastar-test', '-f', file, 'down', '-v'], { env });
    await down();
    t.after(down);
    const up = await compose('up', '-d', '--no-build');
    assert.equal(up.code, 0, show(up));
    await until('the panel answers /readyz on its published port', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 180_000, 250).catch(async (error) => {
      const ps = await podman('ps', '-a', '--format', '{{.Names}} {{.Status}} {{.Ports}}');
      throw new Error(`${error}\n${show(up)}\n${ps.stdout}\n${await logs('rastar-admin-panel')}`);
    });
    const panel = await healthcheck('rastar-admin-panel');
    assert.equal(panel.line, 'healthy: the admin panel answers /healthz on port 3000', JSON.stringify(panel));
    const log = await logs('rastar-admin-panel');
    assert.match(log, new RegExp(`Database is now up to date! ${migrations().length} migrations applied`), log);

    // The bot passed the gate and polls (Telegram itself is out of reach: it backs off, and says so).
    await until('the bot starts', async () => /Telegram bot started/.test(await logs('rastar-telegram-bot')), 120_000, 250);
    const bot = await healthcheck('rastar-telegram-bot');
    assert.match(bot.line, /^healthy: the telegram bot's poll loop ran \d+ s ago$/, JSON.stringify(bot));

    for (const name of ['rastar-admin-panel', 'rastar-telegram-bot']) {
      const rootfs = await podman('inspect', name, '--format', '{{.HostConfig.ReadonlyRootfs}}');
      assert.equal(rootfs.stdout.trim(), 'true', `${name} runs on a read-only root filesystem`);
      const caps = await podman('exec', name, 'sh', '-c', 'id -u; grep CapEff /proc/1/status');
      assert.match(caps.stdout, /^1000\nCapEff:\s+0+$/m, `${name}: user node, no capabilities`);
    }
    const status = await podman('exec', 'rastar-admin-panel', 'npx', 'prisma', 'migrate', 'status');
    assert.equal(status.code, 0, show(status));
    assert.match(status.stdout, /Database schema is up to date!/);
  });

  test('secrets from files (Docker secrets), the default SQLite database on a volume, a login; the CLI and the check by exec', async (t) => {
    const db = await testDatabase(t, 'postgresql');
    const secrets = tempDir(t, 'rastar-secrets-');
    const password = 'image-admin-password-42';
    const sessionSecret = 'image-session-secret-0123456789abcdef';
    writeFileSync(join(secrets, 'database_url'), `${db.url}\n`);
    writeFileSync(join(secrets, 'admin_password'), `${password}\n`);
    writeFileSync(join(secrets, 'session_secret'), `${sessionSecret}\n`);
    chmodSync(secrets, 0o755);
    const files = ['-v', `${secrets}:/run/secrets:ro`, '-e', 'DATABASE_URL_FILE=/run/secrets/database_url', '-e', 'ADMIN_PASSWORD_FILE=/run/secrets/admin_password', '-e', 'SESSION_SECRET_FILE=/run/secrets/session_secret'];
    const port = await freePort();
    const name = `rastar-secrets-${process.pid}`;
    await runDetached(t, name, [...HARDENED, ...files, '-e', 'RUN_MIGRATIONS=true', '-e', `PORT=${port}`, image, 'admin-panel']);
    await until('the panel answers /readyz', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 120_000, 200);
    const panel = new PanelClient(`http://127.0.0.1:${port}`);
    assert.equal((await panel.login('admin', 'wrong')).status, 401);
    assert.equal((await panel.login('admin', password)).status, 302);
    assert.equal((await panel.get('/packs')).status, 200);
    const log = await logs(name);
    assert.match(log, /^✓ Admin user admin created$/m);
    for (const hidden of [password, sessionSecret, decodeURIComponent(new URL(db.url).password)]) assert.ok(!log.includes(hidden), `the container's output shows a secret:\n${log}`);

    // By exec: the official CLI on the kit's engine; the production check, which has no
    // shadow server in the image and says what it did not compare.
    const version = await podman('exec', '-e', `DATABASE_URL=${db.url}`, name, 'npx', 'prisma', 'version');
    assert.equal(version.code, 0, show(version));
    assert.match(version.stdout, /^Schema Engine\s+: schema-engine-cli [0-9a-f]{40} \(the rastar kit's engine/m);
    const checked = await podman('exec', '-e', `DATABASE_URL=${db.url}`, name, 'node', 'dist/scripts/check-production-migrations.js', '--json');
    assert.equal(checked.code, 0, show(checked));
    const drift = (JSON.parse(checked.stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks.find((c) => c.id === 'drift');
    assert.equal(drift?.ok, true);
    assert.match(drift?.detail ?? '', /^the live schema matches the migrations \(tables, columns, indexes, constraints; functions, triggers, views, policies and grants not compared: no shadow database server .*SHADOW_DATABASE_URL.*\)$/);

    // Both DATABASE_URL and its file: which would win is a guess, so neither does.
    const both = await podman('run', '--rm', '--network', 'host', ...files, '-e', `DATABASE_URL=${db.url}`, '-e', 'RUN_MIGRATIONS=true', image, 'app', '--', 'true');
    assert.equal(both.code, 2, show(both));
    assert.match(both.stderr, /^Error: both DATABASE_URL and DATABASE_URL_FILE are set$/m);

    // No DATABASE_URL at all: the image's default, SQLite in data/rastar.db (a volume under a read-only root).
    const data = tempDir(t, 'rastar-data-');
    chmodSync(data, 0o777);
    const sqlite = await podman('run', '--rm', ...HARDENED, '-v', `${data}:/app/data`, '-e', 'RUN_MIGRATIONS=true', image, 'app', '--', 'node', '-e', 'console.log(`app on ${process.version}`)');
    assert.equal(sqlite.code, 0, show(sqlite));
    const sqliteNames = readHistory('sqlite').migrations.map((m) => m.name);
    assert.match(sqlite.stdout, new RegExp(`^Database is now up to date! ${sqliteNames.length} migrations applied in `, 'm'));
    assert.match(sqlite.stdout, /^app on v\d+\.\d+\.\d+$/m);
    assert.ok(existsSync(join(data, 'rastar.db')), 'the default database is data/rastar.db');
  });
});
