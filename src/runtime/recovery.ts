/**
 * The two states that stop every deploy until a person acts, worded once with the
 * commands that end them: a failed migration (Prisma's P3009) and tables without a
 * migration history (P3005). Deploy, the gate, verify and the production check all
 * report them through here.
 */
import { KitError } from '../errors.ts';
import type { History } from './history.ts';
import type { MigrationStatus } from './status.ts';

/** The exact commands that get a failed migration out of the way. */
export function recoveryHint(name: string): string {
  return [
    `If you fixed the database by hand so that ${name} is fully applied: make resolve APPLIED=${name}`,
    `If you reverted what it did (or nothing of it remains): make resolve ROLLED_BACK=${name}, then make deploy`,
  ].join('\n');
}

/** P3009, with the failure's first log line when the row recorded one. */
export function failedMigrationBlocks(name: string, logs?: string | null): KitError {
  const reason = logs?.split('\n')[0];
  return new KitError('FAILED_MIGRATION_BLOCKS', `Migration ${name} failed earlier and blocks every deploy until it is resolved.${reason ? ` It failed with: ${reason}` : ''}`, {
    prismaCode: 'P3009',
    hint: recoveryHint(name),
  });
}

/**
 * Throws P3009 for the first failed migration. A migration still running without a
 * transaction in another migrator reads as failed too; `running: 'wait'` leaves it to
 * the caller, who waits for it.
 */
export function assertNoFailed(status: MigrationStatus, running: 'fail' | 'wait' = 'fail'): void {
  const failed = status.failed.find((f) => running === 'fail' || !f.running);
  if (failed) throw failedMigrationBlocks(failed.name);
}

/** P3005: tables without a history mean the database was built outside migrations; deploying would collide. */
export function baselineNeeded(tables: string[], history: History): KitError {
  return new KitError('HISTORY', `The database already has tables (${abbreviate(tables)}) but no migration history; it needs a baseline.`, {
    prismaCode: 'P3005',
    hint: [
      `Find which of the ${history.migrations.length} migrations the tables hold (compared by schema, read-only): make baseline`,
      'then record them as applied and deploy the rest: make baseline CONFIRM=1 && make deploy',
    ].join('\n'),
  });
}

function abbreviate(tables: string[], shown = 5): string {
  return `${tables.slice(0, shown).join(', ')}${tables.length > shown ? ', …' : ''}`;
}
