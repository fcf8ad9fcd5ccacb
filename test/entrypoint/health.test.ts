/**
 * The container's health check (dist/scripts/healthcheck.js, the image's HEALTHCHECK):
 * its answer in each phase the entrypoint writes, on an injected clock. The real
 * entrypoint writing those phases under a real engine: test/container/engine.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { checkHealth, LATE_MS } from '../../src/runtime/health.ts';
import { beat, HEARTBEAT_INTERVAL_MS } from '../../src/runtime/heartbeat.ts';
import { runScript, tempDir } from '../helpers.ts';
import { runEntrypoint } from './harness.ts';

const T0 = 1_800_000_000_000;

function state(t: TestContext, phase: string, app: string, options: { since?: number; started?: number } = {}): string {
  const dir = join(tempDir(t), 'state');
  mkdirSync(dir);
  writeFileSync(join(dir, 'phase'), `phase=${phase}\nsince=${options.since ?? T0}\nstarted=${options.started ?? T0}\napp=${app}\n`);
  return dir;
}

const never = async () => {
  throw new Error('the panel must not be asked in this phase');
};

describe('the health check', () => {
  test('migrating within the start period: starting (exit 1), alive; past it: alive (exit 0); a silent step: unhealthy', async (t) => {
    const dir = state(t, 'migrating', 'admin-panel');
    const env = { RASTAR_STATE_DIR: dir, HEALTH_START_PERIOD: '60' };
    beat(join(dir, 'kit-heartbeat'), HEARTBEAT_INTERVAL_MS, T0 + 40_000);
    assert.deepEqual(await checkHealth({ env, now: T0 + 41_000, ask: never }), { healthy: false, line: 'starting: migrating for 41 s (alive); the app starts when it is done' });
    beat(join(dir, 'kit-heartbeat'), HEARTBEAT_INTERVAL_MS, T0 + 90_000);
    assert.deepEqual(await checkHealth({ env, now: T0 + 91_000, ask: never }), { healthy: true, line: 'alive: migrating for 91 s, past the start period; the app starts when it is done' });
    // The heartbeat was due 2 s after its last beat; 30 s later still nothing.
    const late = T0 + 90_000 + HEARTBEAT_INTERVAL_MS + LATE_MS + 1;
    assert.deepEqual(await checkHealth({ env, now: late, ask: never }), { healthy: false, line: 'unhealthy: migrating, and no heartbeat for 32 s: the step hangs' });
  });

  test('each waiting phase names what it waits for; a phase change counts as a beat', async (t) => {
    for (const [phase, words] of [['database', 'waiting for the database'], ['schema', 'waiting until the schema is current'], ['seeding', 'seeding'], ['backup', 'backing up before migrating']]) {
      const dir = state(t, phase!, 'telegram-bot', { since: T0 + 5000 });
      const health = await checkHealth({ env: { RASTAR_STATE_DIR: dir }, now: T0 + 7000, ask: never });
      assert.deepEqual(health, { healthy: false, line: `starting: ${words} for 2 s (alive); the app starts when it is done` });
    }
  });

  test('the admin panel is healthy only when /healthz answers, on PORT', async (t) => {
    const dir = state(t, 'app', 'admin-panel');
    const asked: string[] = [];
    const answer = (ok: boolean) => async (url: string) => (asked.push(url), ok);
    assert.deepEqual(await checkHealth({ env: { RASTAR_STATE_DIR: dir, PORT: '3100' }, now: T0, ask: answer(true) }), { healthy: true, line: 'healthy: the admin panel answers /healthz on port 3100' });
    assert.deepEqual(await checkHealth({ env: { RASTAR_STATE_DIR: dir, PORT: '3100' }, now: T0, ask: answer(false) }), { healthy: false, line: 'unhealthy: the admin panel does not answer /healthz on port 3100' });
    assert.deepEqual(asked, ['http://127.0.0.1:3100/healthz', 'http://127.0.0.1:3100/healthz']);
    // Started without the entrypoint (no phase written): the panel's own answer.
    assert.equal((await checkHealth({ env: { RASTAR_STATE_DIR: join(dir, 'none') }, now: T0, ask: answer(true) })).healthy, true);
  });

  test('the bot is healthy while its poll loop beats within the time it announced, and never asks the panel', async (t) => {
    const dir = state(t, 'app', 'telegram-bot');
    const env = { RASTAR_STATE_DIR: dir };
    // A poll held open 25 s, cut 15 s later at the latest: the next beat is due within 40 s.
    beat(join(dir, 'bot-heartbeat'), 40_000, T0 + 10_000);
    assert.deepEqual(await checkHealth({ env, now: T0 + 60_000, ask: never }), { healthy: true, line: "healthy: the telegram bot's poll loop ran 50 s ago" });
    assert.deepEqual(await checkHealth({ env, now: T0 + 10_000 + 40_000 + LATE_MS + 1, ask: never }), { healthy: false, line: "unhealthy: the telegram bot's poll loop has not run for 70 s" });
    // A heartbeat older than this run of the container does not count.
    const restarted = state(t, 'app', 'telegram-bot', { since: T0 + 100_000 });
    beat(join(restarted, 'bot-heartbeat'), 3_600_000, T0);
    assert.equal((await checkHealth({ env: { RASTAR_STATE_DIR: restarted }, now: T0 + 100_000 + HEARTBEAT_INTERVAL_MS + LATE_MS + 1, ask: never })).healthy, false);
  });

  test('healthcheck.js prints its line and exits 0 or 1; the entrypoint writes the phases it passes through', async (t) => {
    const dir = join(tempDir(t), 'state');
    const db = `file:${join(tempDir(t), 'x.db')}`;
    // The entrypoint's last phase before the app: the program it runs sees its own state.
    const result = await runEntrypoint(t, ['app', '--', 'sh', '-c', `cat "${dir}/phase"`], { RASTAR_STATE_DIR: dir, DATABASE_URL: db, RUN_MIGRATIONS: 'true', ADMIN_PASSWORD: 'a-password-of-16ch' });
    assert.equal(result.code, 0, result.output);
    assert.match(result.stdout, /^phase=app\nsince=\d{13}\nstarted=\d{13}\napp=sh$/m);
    const health = await runScript('healthcheck', [], { env: { RASTAR_STATE_DIR: dir } });
    assert.equal(health.code, 0, health.stderr);
    assert.equal(health.stdout, 'healthy: sh runs (it has no health signal of its own)\n');
    const missing = await runScript('healthcheck', [], { env: { RASTAR_STATE_DIR: join(dir, 'none'), PORT: '1' } });
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, 'unhealthy: the admin panel does not answer /healthz on port 1\n');
  });
});
