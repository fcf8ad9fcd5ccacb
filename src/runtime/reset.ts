/**
 * `make reset`: throw the dev database away and build it again from the
 * history. SQLite: the file goes. PostgreSQL: the schema is dropped and
 * re-created, only with explicit confirmation and never in production.
 */
import { existsSync, rmSync } from 'node:fs';
import { openConnection, type DatabaseTarget } from '../db.ts';
import { KitError } from '../errors.ts';
import { isProduction } from '../env.ts';

export function assertResetAllowed(target: DatabaseTarget, confirmed: boolean): void {
  if (isProduction()) {
    throw new KitError('REFUSED', 'Refusing to reset: NODE_ENV is "production". Reset only re-creates development databases.');
  }
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
