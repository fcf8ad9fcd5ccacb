/**
 * What a person reads while a deploy runs, worded once for every command that
 * deploys (deploy, verify, reset, dev): progress on stdout, waits and notices on
 * stderr. Returns lines; the scripts print them.
 */
import { describeBlocker } from './blockers.ts';
import { describeConflict, type DeployEvent } from './deploy.ts';
import { describeHolder } from './lock.ts';
import { errLine as err, outLine as out, type Line } from '../lines.ts';

const POOLER_NOTE =
  'Note: a transaction pooler sits between the kit and the database (PgBouncer in transaction mode or alike): no session lock is taken; each migration takes the migration lock inside its own transaction, waiting migrators cannot name the holder, and the gate polls. Set DIRECT_DATABASE_URL to the server itself for the direct path.';

/** A renderer for one deploy: a wait for another migrator is announced once per migration. */
export function deployEventRenderer(): (event: DeployEvent) => Line | undefined {
  const waitingFor = new Set<string>();
  return (event) => {
    switch (event.event) {
      case 'waiting-for-lock':
        return err(`Waiting for the migration lock, held by ${describeHolder(event.holder)}…`);
      case 'applying':
        return err(`Applying migration \`${event.name}\``);
      case 'timeouts-reset':
        return err(`Note: ${event.name} resets its session's settings (line ${event.line}: ${event.statement}): after that statement its statements wait for table locks without MIGRATION_DDL_LOCK_TIMEOUT.`);
      case 'no-transaction':
        return err(`Note: ${event.name} cannot run in a transaction (${event.reason}); running it statement by statement.`);
      case 'concurrently-in-transaction':
        return err(`Note: ${event.name} builds indexes CONCURRENTLY; this database is new (no session uses its tables yet), so it builds them in its transaction.`);
      case 'applied':
        return out(`✓ Migration applied: ${event.name} (${formatMs(event.ms)})`);
      case 'applied-by-other':
        return out(`✓ Migration applied by another migrator: ${event.name}`);
      case 'transaction-pooler':
        return err(POOLER_NOTE);
      case 'lock-wait':
        return err(
          `Migration ${event.name} ${describeConflict(event.cause, event.waitedMs)} (attempt ${event.attempt} of ${event.of})${event.blockers.length ? `, blocked by ${event.blockers.map(describeBlocker).join('; ')}` : ''}; rolled back, retrying in ${event.retryInMs / 1000}s…`,
        );
      case 'invalid-index':
        return err(`Note: ${event.name}: dropping the invalid index ${event.index} an interrupted CREATE INDEX CONCURRENTLY left, to build it again.`);
      case 'waiting-for-migrator':
        if (waitingFor.has(event.name)) return undefined;
        waitingFor.add(event.name);
        return err(`Waiting for another migrator running ${event.name} without a transaction…`);
      case 'edited':
        return err(`Warning: applied migration${event.names.length > 1 ? 's were' : ' was'} edited after being applied (checksum differs): ${event.names.join(', ')}`);
      case 'unknown':
        return err(`Note: the database has migrations this folder does not: ${event.names.join(', ')} (a newer release deployed them)`);
    }
  };
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(2)}s`;
}
