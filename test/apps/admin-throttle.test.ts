/**
 * The login throttle as an attacker meets it, and the client address it keys on:
 * an attack on the admin's user name from many addresses slows the attacker and
 * never keeps the admin out; X-Forwarded-For counts only from a trusted proxy.
 * The panel's socket peer is 127.0.0.1; X-Forwarded-For plays the clients behind it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { AdminPanelOptions } from '../../src/apps/admin-panel.ts';
import { addressKey, LoginThrottle, MAX_KEYS } from '../../src/apps/admin/throttle.ts';
import { trustProxySetting } from '../../src/env.ts';
import { ADMIN, PanelClient, seededPanel } from '../fixtures/panel.ts';
import { runScript, tempDir, testDatabase } from '../helpers.ts';
import { freePort, startScript, waitForHttp } from '../processes.ts';
import { until } from '../entrypoint/harness.ts';

/** A seeded panel started with TRUST_PROXY set (read at start, then restored). */
async function panelWithTrustProxy(t: TestContext, trustProxy: string, options: Partial<AdminPanelOptions>) {
  const saved = process.env.TRUST_PROXY;
  process.env.TRUST_PROXY = trustProxy;
  try {
    return await seededPanel(t, 'sqlite', options);
  } finally {
    if (saved === undefined) delete process.env.TRUST_PROXY;
    else process.env.TRUST_PROXY = saved;
  }
}

/** A login posted with X-Forwarded-For: the client a proxy on the socket's peer would name. */
async function loginAs(client: PanelClient, forwardedFor: string, username = ADMIN.username, password = ADMIN.password) {
  const _csrf = await client.token('/login');
  return client.request('/login', { form: { _csrf, username, password }, headers: { 'x-forwarded-for': forwardedFor } });
}

test('an attacker failing from 20 rotating addresses at 5 a second never keeps the admin out: the right password from a fresh address gets 302 every time', async (t) => {
  let now = Date.now();
  const { panel, logged } = await panelWithTrustProxy(t, '127.0.0.1', { clock: () => now });
  const attacker = new PanelClient(panel.url);
  const attackerStatuses: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (let i = 1; i <= 20; i++) {
      attackerStatuses.push((await loginAs(attacker, `198.51.100.${i}`, ADMIN.username, `guess-${round}-${i}`)).status);
      now += 200;
    }
    // Every 21st request is the admin's, as in the report that let the admin in 1 time in 21.
    const res = await loginAs(new PanelClient(panel.url), '203.0.113.50');
    assert.equal(res.status, 302, `round ${round}: ${res.status} ${res.body.slice(0, 200)}`);
  }
  assert.equal(logged.filter((line) => line === 'Admin admin logged in from 203.0.113.50').length, 10);
  assert.ok(attackerStatuses.filter((s) => s === 429).length > attackerStatuses.length / 2, `the attacker is slowed: ${attackerStatuses.join(' ')}`);
});

test('a user name under attack is slowed, never blocked: each failing address waits longer (429, Retry-After growing), a clean address is checked at once, and after a typo waiting it out works', async (t) => {
  // The clock stands still unless the test moves it.
  let now = Date.now();
  const { panel } = await panelWithTrustProxy(t, '127.0.0.1', { clock: () => now });
  const client = new PanelClient(panel.url);
  const retryAfter = (res: { status: number; headers: Headers }) => (res.status === 429 ? Number(res.headers.get('retry-after')) : undefined);

  // One address: 5 free failures, then it waits.
  for (let i = 0; i < 5; i++) assert.equal((await loginAs(client, '198.51.100.1', ADMIN.username, `a-${i}`)).status, 401);
  assert.equal(retryAfter(await loginAs(client, '198.51.100.1', ADMIN.username, 'a-5')), 1);
  // The name has now failed 5 times: a new address is checked once, then waits, longer each time.
  assert.equal((await loginAs(client, '198.51.100.2', ADMIN.username, 'b-0')).status, 401);
  assert.equal(retryAfter(await loginAs(client, '198.51.100.2', ADMIN.username, 'b-1')), 2);
  assert.equal((await loginAs(client, '198.51.100.3', ADMIN.username, 'c-0')).status, 401);
  assert.equal(retryAfter(await loginAs(client, '198.51.100.3', ADMIN.username, 'c-1')), 4);
  // The right password from a failing address waits like any other attempt from it.
  assert.equal(retryAfter(await loginAs(client, '198.51.100.3')), 4);

  // The admin's own clean address: checked at once, the right password let in.
  assert.equal((await loginAs(new PanelClient(panel.url), '203.0.113.50')).status, 302);
  // A typo from a clean address is checked (401, not 429); then that address waits like the others, a bounded wait.
  const admin = new PanelClient(panel.url);
  assert.equal((await loginAs(admin, '203.0.113.60', ADMIN.username, 'typo')).status, 401);
  const wait = retryAfter(await loginAs(admin, '203.0.113.60'));
  assert.equal(wait, 8);
  now += (wait as number) * 1000 - 1;
  assert.equal((await loginAs(admin, '203.0.113.60')).status, 429, '1 ms before the wait is over');
  now += 1;
  assert.equal((await loginAs(admin, '203.0.113.60')).status, 302);
  assert.equal((await admin.get('/users')).status, 200);
});

test('X-Forwarded-For from a peer that is not a trusted proxy is ignored: the per-address limit holds for the real address', async (t) => {
  let now = Date.now();
  // Proxies are trusted, but not the panel's peer (127.0.0.1).
  const { panel, logged } = await panelWithTrustProxy(t, '10.0.0.0/8,::1', { clock: () => now });
  const client = new PanelClient(panel.url);
  const statuses: number[] = [];
  for (let i = 1; i <= 8; i++) {
    // A new spoofed address and a new user name each time: only the real address links them.
    const res = await loginAs(client, `198.51.100.${i}`, `someone-${i}`, 'guess');
    statuses.push(res.status);
    now += 200;
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
  assert.deepEqual(logged, Array.from({ length: 5 }, () => 'Failed login (unknown user name) from 127.0.0.1'));
});

test('behind trusted proxies the client is the right-most X-Forwarded-For entry that is not a trusted proxy', async (t) => {
  const { panel, logged } = await panelWithTrustProxy(t, '127.0.0.1, 10.0.0.0/8', {});
  const client = new PanelClient(panel.url);
  await loginAs(client, '6.6.6.6, 198.51.100.7, 10.1.2.3', 'nobody', 'x'); // 6.6.6.6: whatever the client claimed
  await loginAs(client, '10.9.9.9, 10.1.2.3', 'nobody', 'x'); // all trusted: the furthest one
  await loginAs(client, 'not-an-address, 10.1.2.3', 'nobody', 'x'); // not an address: the nearest proxy answers for it
  assert.deepEqual(logged, ['Failed login (unknown user name) from 198.51.100.7', 'Failed login (unknown user name) from 10.9.9.9', 'Failed login (unknown user name) from 10.1.2.3']);
});

describe('TRUST_PROXY', () => {
  test('a comma-separated list of addresses and CIDRs, IPv4 and IPv6; false or unset trusts nobody; anything else is refused, naming the entry', () => {
    const saved = process.env.TRUST_PROXY;
    const setting = (value: string | undefined) => {
      if (value === undefined) delete process.env.TRUST_PROXY;
      else process.env.TRUST_PROXY = value;
      return trustProxySetting();
    };
    try {
      assert.deepEqual(setting('127.0.0.1, 10.0.0.0/8,::1,fd00::/8'), [
        { network: '127.0.0.1', prefix: 32, family: 'ipv4' },
        { network: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { network: '::1', prefix: 128, family: 'ipv6' },
        { network: 'fd00::', prefix: 8, family: 'ipv6' },
      ]);
      for (const nobody of [undefined, '', 'false', 'no', '0']) assert.deepEqual(setting(nobody), [], String(nobody));
      for (const [value, entry] of [['10.0.0.0/33', '10.0.0.0/33'], ['proxy.local', 'proxy.local'], ['127.0.0.1,,::1', ''], ['::1/129', '::1/129'], ['10.0.0.0/8x', '10.0.0.0/8x']] as const) {
        assert.throws(() => setting(value), (error: Error & { code?: string }) => error.code === 'BAD_USAGE' && error.message.includes(`"${entry}"`), value);
      }
    } finally {
      setting(saved);
    }
  });

  test('TRUST_PROXY=true is refused at start (one line naming the new form, exit 2); a list of addresses and CIDRs is accepted', async (t) => {
    const old = await runScript('admin-panel', [], { env: { TRUST_PROXY: 'true', PORT: String(await freePort()), DATABASE_URL: `file:${join(tempDir(t), 'panel.db')}` }, timeoutMs: 30_000 });
    assert.equal(old.code, 2, old.stdout + old.stderr);
    assert.equal(old.stderr.trim(), 'Error: TRUST_PROXY no longer takes true: list the proxies to trust, addresses or CIDRs separated by commas, e.g. TRUST_PROXY=127.0.0.1,10.0.0.0/8,::1');

    const db = await testDatabase(t, 'sqlite');
    assert.equal((await runScript('migrate', ['deploy'], { env: { DATABASE_URL: db.url } })).code, 0);
    const port = await freePort();
    // The panel listens on every interface: its peer is ::ffff:127.0.0.1, the IPv4 127.0.0.1 of the list.
    const running = startScript(t, 'admin-panel', [], { DATABASE_URL: db.url, PORT: String(port), TRUST_PROXY: '10.0.0.0/8,127.0.0.1,::1' });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, (res) => res.ok, { running });
    assert.equal((await loginAs(new PanelClient(`http://127.0.0.1:${port}`), '203.0.113.9', 'nobody', 'x')).status, 401);
    // The panel logs after it answers: wait for the line, however slow the machine.
    await until('the failed login in the log', () => /^Failed login /m.test(running.output()));
    assert.match(running.output(), /^Failed login \(unknown user name\) from 203\.0\.113\.9$/m);
  });
});

describe('LoginThrottle', () => {
  test('memory stays bounded: however many clients fail, no more than MAX_KEYS keys of a kind are kept, and a quiet key is forgotten', () => {
    const throttle = new LoginThrottle({ forgetAfterMs: 60_000, maxDelayMs: 60_000 });
    const t0 = 1_000_000;
    for (let i = 0; i < 3 * MAX_KEYS; i++) throttle.attempt({ username: `user-${i}`, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }, t0 + i);
    assert.deepEqual(throttle.size, { addresses: MAX_KEYS, pairs: MAX_KEYS, usernames: MAX_KEYS });
    // Long after: the next failure sweeps out every key that has been quiet for forgetAfterMs.
    throttle.attempt({ username: 'late', address: '192.0.2.1' }, t0 + 3 * MAX_KEYS + 60_001);
    assert.deepEqual(throttle.size, { addresses: 1, pairs: 1, usernames: 1 });
  });

  test('IPv6 is counted by its /64 (one host may hold all of it); IPv4 by its address', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('198.51.100.7'), '198.51.100.7');
    const throttle = new LoginThrottle();
    const now = 1_000_000;
    for (let i = 1; i <= 5; i++) assert.equal(throttle.attempt({ username: `u${i}`, address: `2001:db8:1:2::${i}` }, now), 0);
    assert.equal(throttle.attempt({ username: 'u6', address: '2001:db8:1:2::6' }, now), 1000, 'the same /64 waits');
    assert.equal(throttle.attempt({ username: 'u6', address: '2001:db8:1:3::6' }, now), 0, 'the next /64 does not');
  });
});
