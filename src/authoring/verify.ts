/**
 * `make verify` (the seed's db:verify): make the dev database whole again.
 * Applies what is pending, then compares the tables with the schema and
 * restores what is missing although its migration is recorded as applied (a
 * replaced or damaged file), adding only, never dropping. On PostgreSQL it
 * changes nothing unless asked to fix.
 */
import { inTransaction, openConnection, type DatabaseTarget } from '../db.ts';
import { deploy, type DeployEvent } from '../runtime/deploy.ts';
import { liveDrift, splitAdditive } from './drift.ts';
import { assertLockfile, type History } from '../runtime/history.ts';
import { assertNoFailed, baselineNeeded } from '../runtime/recovery.ts';
import { readStatus, type MigrationStatus } from '../runtime/status.ts';
import { userTables } from '../runtime/table.ts';
import { statementLine } from '../runtime/sql-script.ts';
import { outLine as out, type Line } from '../lines.ts';

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
    const tables = status.hasTable ? [] : await userTables(conn);
    if (tables.length > 0) throw baselineNeeded(tables, history);
    assertNoFailed(status);
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

/** The human report of a verification (the JSON form is the result itself). */
export function verifyReport(result: VerifyResult, fix: boolean): Line[] {
  const { status } = result;
  const lines = [out(`${status.pending.length ? '✗' : '✓'} _prisma_migrations: ${status.applied.length} applied, ${status.pending.length} pending, ${status.failed.length} failed`)];
  if (status.pending.length) lines.push(out(`  pending: ${status.pending.join(', ')}${fix ? '' : ' (apply with: make deploy)'}`));
  if (result.restored.length) {
    lines.push(out(`${fix ? '✓ Restored' : '✗ Missing'} (recorded as applied, absent from the database):`), ...result.restored.map((s) => out(`  ${statementLine(s)}`)));
    if (!fix) lines.push(out('  repair with: make verify FIX=1'));
  }
  if (result.unrepaired.length) {
    lines.push(
      out('✗ Differences verify does not repair (they would drop or rewrite data):'),
      ...result.unrepaired.map((s) => out(`  ${statementLine(s)}`)),
      out('  create a migration for them (make migrate NAME=…) or fix the database by hand; see make check for the full drift report'),
    );
  }
  lines.push(out(`✓ ${result.tables.length} tables present: ${result.tables.join(', ')}`), out(result.ok ? 'Database verified.' : 'Database needs attention (see above).'));
  return lines;
}
