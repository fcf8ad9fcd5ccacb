/**
 * A real PgBouncer (Debian's `pgbouncer`) in front of the test server, on a free
 * port, with SCRAM authentication: a pooler as managed PostgreSQL puts it in front
 * of users. Stopped when the test ends.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseDatabaseUrl, type DatabaseTarget } from '../src/db.ts';
import { freePort } from '../src/authoring/embedded-postgres.ts';
import { serverUrl, tempDir } from './helpers.ts';

const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  /** postgresql://… through the pooler to `database` on the test server. */
  url(database: string): string;
  /** The pooler's log, for failure messages. */
  log(): string;
}

/** PgBouncer for a test: in a temporary directory, stopped when the test ends. */
export async function startPgBouncer(t: TestContext, mode: 'transaction' | 'session'): Promise<PgBouncer> {
  const server = parseDatabaseUrl(serverUrl()) as DatabaseTarget & { provider: 'postgresql' };
  const bouncer = await launchPgBouncer(server, tempDir(t, 'rastar-pgbouncer-'), mode);
  t.after(() => bouncer.stop());
  return bouncer;
}

/** PgBouncer in front of `server`, its files in `dir` (the tests and the benchmarks); on `listenPort` when given (a restart). */
export async function launchPgBouncer(server: DatabaseTarget & { provider: 'postgresql' }, dir: string, mode: 'transaction' | 'session', listenPort?: number): Promise<PgBouncer & { port: number; stop(): Promise<void> }> {
  if (!existsSync(PGBOUNCER)) throw new Error(`${PGBOUNCER} is missing: apt-get install pgbouncer (.ci/run installs it)`);
  const { user, password, host, port } = server.config;
  chmodSync(dir, 0o777); // as root, PgBouncer runs as nobody and must reach its files
  const listen = listenPort ?? (await freePort());
  const logFile = join(dir, 'pgbouncer.log');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${host} port=${port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${listen}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${mode}`,
      'max_client_conn = 500',
      'default_pool_size = 20',
      'server_login_retry = 1', // after a server restart, reconnect within a second (default 15 s)
      `logfile = ${logFile}`,
      '',
    ].join('\n'),
  );
  const args = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), join(dir, 'pgbouncer.ini')];
  const child = spawn(PGBOUNCER, args, { stdio: 'ignore' });
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGINT');
    });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(listen))) {
    if (child.exitCode !== null || Date.now() > deadline) await stop().then(() => Promise.reject(new Error(`PgBouncer did not start: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : 'no log'}`)));
    await new Promise((done) => setTimeout(done, 50));
  }
  return {
    port: listen,
    url: (database) => `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${listen}/${database}`,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}
