/**
 * The production check (the seed's db:check): everything that can be wrong
 * between a database and the history shipped with the code, read-only. It
 * writes nothing and creates nothing on the checked server: sessions are read-only,
 * drift is computed against the schema, and telling drift from a missing migration
 * replays the history on a shadow that is never the target (drift.ts).
 */
import { maskSecrets, openConnection, serverVersion, type DatabaseTarget } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';
import { explainDrift, liveDrift, objectDrift, type DriftCause } from './drift.ts';
import { withShadow } from './shadow.ts';
import { lintFolder } from './lint.ts';
import { latestRehearsal } from './rehearse.ts';
import { assertLockfile, displayPath, type History } from '../runtime/history.ts';
import { baselineNeeded, recoveryHint } from '../runtime/recovery.ts';
import { readStatus, type MigrationStatus } from '../runtime/status.ts';
import { userTables } from '../runtime/table.ts';

export type CheckId = 'connection' | 'lock-file' | 'history' | 'pending' | 'lint' | 'rehearsal' | 'failed' | 'edited' | 'unknown' | 'drift' | 'schema';

export interface CheckItem {
  id: CheckId;
  /** null: not checked (an earlier check makes it meaningless). */
  ok: boolean | null;
  detail: string;
  /** The exact next command(s) when not ok. */
  hint?: string;
}

export interface CheckReport {
  ok: boolean;
  checks: CheckItem[];
  status?: MigrationStatus;
}

export async function checkProduction(target: DatabaseTarget, history: History): Promise<CheckReport> {
  const checks: CheckItem[] = [];
  const done = (): CheckReport => ({ ok: checks.every((c) => c.ok !== false), checks });

  try {
    assertLockfile(history);
    checks.push({ id: 'lock-file', ok: true, detail: history.lockfile ? `${displayPath(history.dir)} is locked to ${history.provider}` : `${displayPath(history.dir)} has no lock file` });
  } catch (error) {
    checks.push({ id: 'lock-file', ok: false, detail: errorMessage(error) });
    return done();
  }

  let conn;
  try {
    conn = await openConnection(target, { applicationName: 'rastar-check', readonly: true });
  } catch (error) {
    checks.unshift({ id: 'connection', ok: false, detail: maskSecrets(errorMessage(error), target) });
    return done();
  }
  let status: MigrationStatus;
  try {
    const version = await serverVersion(conn);
    checks.unshift({ id: 'connection', ok: true, detail: `reachable (${version})` });
    status = await readStatus(conn, history);
    if (!status.hasTable) {
      const tables = await userTables(conn);
      if (tables.length > 0) {
        const needed = baselineNeeded(tables, history);
        checks.push({ id: 'history', ok: false, detail: needed.message, hint: needed.hint });
        return done();
      }
      checks.push({ id: 'history', ok: true, detail: 'empty database: no history yet, every migration is pending' });
    } else {
      checks.push({ id: 'history', ok: true, detail: `_prisma_migrations present, ${status.applied.length} of ${history.migrations.length} applied` });
    }
  } finally {
    await conn.close();
  }

  const list = (names: string[]) => names.join(', ');
  checks.push(
    status.pending.length
      ? { id: 'pending', ok: false, detail: `${status.pending.length} pending: ${list(status.pending)}`, hint: 'Apply them with: make deploy (in production, the migrating container does it at start)' }
      : { id: 'pending', ok: true, detail: 'none' },
  );
  if (status.pending.length) checks.push(lintPending(history, status.pending), rehearsalCheck(target, history, status.pending));
  checks.push(
    status.failed.length
      ? {
          id: 'failed',
          ok: false,
          detail: status.failed.map((f) => `${f.name}${f.logs ? ` (${f.logs.split('\n')[0]})` : ''}`).join('; '),
          hint: status.failed.map((f) => recoveryHint(f.name)).join('\n'),
        }
      : { id: 'failed', ok: true, detail: 'none' },
  );
  checks.push(
    status.edited.length
      ? { id: 'edited', ok: false, detail: `changed after being applied (checksum differs): ${list(status.edited)}`, hint: 'Restore the files from version control: git checkout -- prisma/migrations. Never edit an applied migration; create a new one.' }
      : { id: 'edited', ok: true, detail: 'none' },
  );
  checks.push(
    status.unknown.length
      ? { id: 'unknown', ok: false, detail: `in the database but not in ${displayPath(history.dir)}: ${list(status.unknown)}`, hint: 'This code is older than the database: deploy the release that added them, or restore the missing folders.' }
      : { id: 'unknown', ok: true, detail: 'none' },
  );

  if (status.pending.length || status.failed.length || !status.hasTable) {
    checks.push({ id: 'drift', ok: null, detail: 'not checked until every migration is applied' });
  } else {
    try {
      checks.push(...(await driftChecks(target, history)));
    } catch (error) {
      checks.push({ id: 'drift', ok: false, detail: `could not be computed: ${maskSecrets(error instanceof KitError ? error.message : errorMessage(error), target)}` });
    }
  }
  return { ...done(), status };
}

/** The verdict of the latest `make rehearse` of this database, when it rehearsed these very pending migrations. */
function rehearsalCheck(target: DatabaseTarget, history: History, pending: string[]): CheckItem {
  const saved = latestRehearsal(target, history, pending);
  if (!saved) return { id: 'rehearsal', ok: null, detail: 'these pending migrations were not rehearsed: make rehearse applies them to a copy first' };
  const when = `rehearsed ${saved.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`;
  if (saved.failure) return { id: 'rehearsal', ok: false, detail: `${when}: ${saved.failure.name ?? 'the deploy'} failed on the copy: ${saved.failure.error}`, hint: 'Fix the migration, then make rehearse again.' };
  const v = saved.verdict;
  const locks = v.longestLocks.map((l) => `${l.overTimeout ? 'over' : 'within'} MIGRATION_DDL_LOCK_TIMEOUT: ${l.table} ${l.mode} ${Math.round(l.heldMs)} ms (${l.migration})`);
  return { id: 'rehearsal', ok: true, detail: [`${when}: all ${saved.applied} applied to a copy in ${Math.round(v.totalMs)} ms`, ...locks].join('\n') };
}

/** The lint findings of the pending migrations in this database's dialect: errors fail the check, warnings are shown. */
function lintPending(history: History, pending: string[]): CheckItem {
  const names = new Set(pending);
  let findings;
  try {
    findings = lintFolder(history.provider, history.migrations, (name) => names.has(name)).filter((f) => f.allowed === undefined);
  } catch (error) {
    return { id: 'lint', ok: false, detail: errorMessage(error) }; // a lint:allow comment the linter cannot read
  }
  if (!findings.length) return { id: 'lint', ok: true, detail: 'the pending migrations pass the zero-downtime rules' };
  const errors = findings.filter((f) => f.level === 'error').length;
  return {
    id: 'lint',
    ok: errors === 0,
    detail: [`${errors} error(s), ${findings.length - errors} warning(s) in the pending migrations:`, ...findings.map((f) => `${f.level} ${f.migration}:${f.line} ${f.rule}: ${f.statement}`)].join('\n'),
    hint: errors ? 'make lint shows why and the safe way; a deliberate change is allowed with -- lint:allow <rule> <reason> in its migration.sql' : undefined,
  };
}

const IN_SYNC: CheckItem = { id: 'drift', ok: true, detail: 'the live schema matches the migrations' };
const HAND_CHANGE_HINT = 'Someone changed the database by hand. Turn the change into a migration (make migrate NAME=…) or revert it; make verify FIX=1 restores missing tables and columns.';
const UNMIGRATED_HINT = 'schema.prisma was changed without a migration: create it with make migrate NAME=…, commit both migration folders, and deploy.';

/**
 * Drift is the live database against what the history produces; a schema.prisma the
 * history does not produce is another fault (a missing migration). Prisma's engine
 * compares tables, columns, indexes and constraints, against schema.prisma first; what
 * it does not see (triggers, functions, views, policies, grants, …) is compared with
 * the history replayed on a shadow as deploy runs it.
 */
async function driftChecks(target: DatabaseTarget, history: History): Promise<CheckItem[]> {
  const live = await liveDrift(target, { readOnly: true });
  return withShadow(target, async (shadow) => {
    if ('unavailable' in shadow) {
      if (!live.drifted) return [{ ...IN_SYNC, detail: `${IN_SYNC.detail} (tables, columns, indexes, constraints; functions, triggers, views, policies and grants not compared: ${shadow.unavailable})` }];
      return [
        {
          id: 'drift',
          ok: false,
          detail: `the live schema differs from schema.prisma; to match it the database would need:\n${live.summary}\nEither the database was changed by hand or schema.prisma has changes without a migration; ${shadow.unavailable} to tell which.`,
          hint: 'Run make parity where the code is: it fails when schema.prisma has changes without a migration.',
        },
      ];
    }
    const objects = await objectDrift(target, history, shadow.server);
    const cause: DriftCause = live.drifted ? await explainDrift(target, history, shadow.server) : { kind: 'database', summary: '' };
    const database = cause.kind === 'database' ? cause.summary : cause.kind === 'both' ? cause.database : '';
    const unmigrated = cause.kind === 'unmigrated' ? cause.summary : cause.kind === 'both' ? cause.unmigrated : '';
    const items: CheckItem[] = [];
    if (database || objects.length) {
      const lines = [...(database ? [`to match them the database would need:\n${database}`] : []), ...(objects.length ? ['beside tables and columns:', ...objects.map((line) => `  ${line}`)] : [])];
      items.push({ id: 'drift', ok: false, detail: `the live schema differs from what the migrations produce; ${lines.join('\n')}`, hint: HAND_CHANGE_HINT });
    } else {
      items.push(IN_SYNC);
    }
    if (unmigrated) items.push({ id: 'schema', ok: false, detail: `schema.prisma has changes that no migration holds; the migrations would need:\n${unmigrated}`, hint: UNMIGRATED_HINT });
    return items;
  });
}
