/**
 * `make reset`: throw the dev database away and build it again from the
 * history. SQLite: the file goes. PostgreSQL: the schema is dropped and
 * re-created, only with explicit confirmation and never in production.
 */
import { existsSync, rmSync } from 'node:fs';
import { openConnection, type DatabaseTarget } from '../db.ts';
import { KitError } from '../errors.ts';
import { allowDestructiveInProduction, isProduction } from '../env.ts';

/**
 * What throws a database away (reset, the CLI's reset and drop-database, a script that
 * drops a database or schema) refuses in production, unless the one command that should
 * is run with ALLOW_DESTRUCTIVE_IN_PRODUCTION=true.
 */
export function assertDestructiveAllowed(what: string): void {
  if (isProduction() && !allowDestructiveInProduction()) {
    throw new KitError('REFUSED', `Refusing to ${what}: NODE_ENV is "production". If this production database is really to be thrown away, run this one command with ALLOW_DESTRUCTIVE_IN_PRODUCTION=true.`);
  }
}

export function assertResetAllowed(target: DatabaseTarget, confirmed: boolean): void {
  assertDestructiveAllowed('reset');
  if (target.provider === 'postgresql' && !confirmed) {
    throw new KitError('REFUSED', `Refusing to reset a PostgreSQL database without confirmation: every table and row in schema "${target.schema}" of "${target.config.database}" would be dropped.`, {
      hint: 'If that is what you want: make reset CONFIRM=1 (or --confirm)',
    });
  }
}

/** Empty the database; the caller deploys afterwards. */
export async function dropEverything(target: DatabaseTarget): Promise<void> {
  if (target.provider === 'sqlite') {
    for (const suffix of ['', '-journal', '-wal', '-shm']) {
      if (existsSync(target.file + suffix)) rmSync(target.file + suffix);
    }
    return;
  }
  const conn = await openConnection(target, { applicationName: 'rastar-reset' });
  try {
    const schema = `"${target.schema.replace(/"/g, '""')}"`;
    await conn.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  } finally {
    await conn.close();
  }
}
