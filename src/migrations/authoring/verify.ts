/**
 * `make verify` (the seed's db:verify): make the dev database whole again.
 * Applies what is pending, then compares the tables with the schema and
 * restores what is missing although its migration is recorded as applied (a
 * replaced or damaged file), adding only, never dropping. On PostgreSQL it
 * changes nothing unless asked to fix.
 */
import { inTransaction, openConnection, type DatabaseTarget } from '../../db.ts';
import { KitError } from '../../errors.ts';
import { baselineHint, deploy, type DeployEvent } from '../production/deploy.ts';
import { liveDrift, splitAdditive } from './drift.ts';
import { assertLockfile, type History } from '../production/history.ts';
import { readStatus, recoveryHint, type MigrationStatus } from '../production/status.ts';
import { userTables } from '../production/table.ts';

export interface VerifyOptions {
  /** Allowed to write: always on SQLite, only with --fix on PostgreSQL. */
  fix: boolean;
  lockTimeoutMs: number;
  onEvent?: (event: DeployEvent) => void;
}

export interface VerifyResult {
  status: MigrationStatus;
  applied: string[];
  /** Additive statements that restore missing tables, columns or indexes: run, or (without fix) needed. */
  restored: string[];
  /** Differences the kit will not repair by itself (drops, type changes): need a migration or a hand fix. */
  unrepaired: string[];
  tables: string[];
  /** Something remains to be done (only possible without fix, or with unrepaired differences). */
  ok: boolean;
}

export async function verifyDatabase(target: DatabaseTarget, history: History, options: VerifyOptions): Promise<VerifyResult> {
  assertLockfile(history);
  const conn = await openConnection(target, { applicationName: 'rastar-verify', readonly: !options.fix });
  let status: MigrationStatus;
  let applied: string[] = [];
  try {
    status = await readStatus(conn, history);
    if (!status.hasTable && (await userTables(conn)).length > 0) {
      throw new KitError('HISTORY', 'Tables exist but the migration history (_prisma_migrations) does not: the database needs a baseline.', {
        prismaCode: 'P3005',
        hint: baselineHint(history),
      });
    }
    const failed = status.failed[0];
    if (failed) {
      throw new KitError('FAILED_MIGRATION_BLOCKS', `Migration ${failed.name} failed and blocks the database until it is resolved.`, { prismaCode: 'P3009', hint: recoveryHint(failed.name) });
    }
    if (options.fix && status.pending.length > 0) {
      applied = (await deploy(conn, history, { lockTimeoutMs: options.lockTimeoutMs, onEvent: options.onEvent })).applied.map((a) => a.name);
      status = await readStatus(conn, history);
    }
  } finally {
    await conn.close();
  }

  // Structure is only comparable once the history is complete.
  let restored: string[] = [];
  let unrepaired: string[] = [];
  if (status.pending.length === 0) {
    const drift = await liveDrift(target, { readOnly: !options.fix });
    if (drift.drifted) {
      const { additive, other } = splitAdditive(drift.script, target.provider);
      restored = additive;
      unrepaired = other;
      if (options.fix && additive.length) await restore(target, additive);
    }
  }
  const check = await openConnection(target, { applicationName: 'rastar-verify', readonly: true });
  const tables = await userTables(check).finally(() => check.close());
  const ok = status.pending.length === 0 && unrepaired.length === 0 && (options.fix || restored.length === 0);
  return { status, applied, restored, unrepaired, tables, ok };
}

/** Run the additive statements in one transaction: all restored or nothing. */
async function restore(target: DatabaseTarget, statements: string[]): Promise<void> {
  const conn = await openConnection(target, { applicationName: 'rastar-verify' });
  try {
    await inTransaction(conn, async () => {
      for (const statement of statements) await conn.exec(statement);
    });
  } finally {
    await conn.close();
  }
}
