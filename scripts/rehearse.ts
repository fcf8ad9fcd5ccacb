/**
 * `make rehearse` / `npm run db:rehearse`: apply the pending migrations to a copy of the
 * database first and report what they cost there. Thin: src/authoring/rehearse.ts does the work.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeDatasource, maskUrl } from '../src/db.ts';
import { err, formatMs, onStopSignal, out, printDeployEvents, runCommand, target } from '../src/cli.ts';
import { parseBytes, rehearseMaxBytes } from '../src/env.ts';
import { errorMessage } from '../src/errors.ts';
import { formatFinding } from '../src/authoring/lint.ts';
import { formatBytes, rehearse, saveRehearsal, type MigrationCost, type Rehearsal } from '../src/authoring/rehearse.ts';
import { SHADOW_ENV_HELP } from '../src/authoring/shadow.ts';
import { readHistory } from '../src/runtime/history.ts';

await runCommand(
  {
    summary:
      'Apply the pending migrations to a copy of the database (or of a backup) with the kit’s own deploy, and report per migration its duration, the locks it held on each table and for how long, the rows it changed, the tables it rewrote, the indexes it built and the lint findings weighed with the copy’s rows; then a verdict: the longest lock that blocks the app per table against MIGRATION_DDL_LOCK_TIMEOUT, the total time, and the migrations that break the release still running. The database is only read; the copy is dropped.',
    usage: 'rehearse [--from <backup file>] [--max-bytes <size>] [--json]',
    options: { from: { type: 'string' }, 'max-bytes': { type: 'string' }, json: { type: 'boolean' } },
    optionHelp: [
      '--from <file>      copy this backup (backups/<name>.dump or .db) instead of the live database (make rehearse FROM=…)',
      '--max-bytes <size> refuse a larger copy (default REHEARSE_MAX_BYTES, 10GiB; 0: no limit)',
      '--json             print the rehearsal as JSON on stdout',
    ],
    env: [
      'DATABASE_URL  the database to rehearse on a copy of; only read, credentials never printed',
      `${SHADOW_ENV_HELP}; for make rehearse: the server the copy goes on (else the database's own server when its role may create databases, else the embedded one)`,
      'REHEARSE_MAX_BYTES  the largest database copied (default 10GiB; 0: no limit)',
      'MIGRATION_DDL_LOCK_TIMEOUT  seconds the app may queue behind a lock: the verdict weighs each table’s longest lock against it (default 5)',
    ],
    examples: ['make rehearse', 'make rehearse FROM=backups/20260101000000_init_20260102T030405Z.dump', 'DATABASE_URL=postgresql://app:secret@db:5432/rastar SHADOW_DATABASE_URL=postgresql://postgres:secret@scratch:5432/postgres npm run -s db:rehearse -- --json'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    const maxBytes = values['max-bytes'] === undefined ? rehearseMaxBytes() : parseBytes(String(values['max-bytes']), '--max-bytes');
    if (!values.json) out(`Rehearsal: ${describeDatasource(t)}`);
    const history = readHistory(t.provider);
    const rehearsal = await rehearse(t, history, { from: values.from === undefined ? undefined : String(values.from), maxBytes, onProgress: (line) => err(line), onEvent: printDeployEvents({ json: true }), onCopy: onStopSignal });
    if (!rehearsal) {
      if (values.json) out(JSON.stringify({ datasource: maskUrl(t.url), provider: t.provider, pending: [], migrations: [] }, null, 2));
      else out('No pending migrations: nothing to rehearse.');
      return 0;
    }
    saveRehearsal(t, history, rehearsal);
    if (values.json) {
      const { failure, ...rest } = rehearsal;
      out(JSON.stringify({ datasource: maskUrl(t.url), provider: t.provider, ...rest, ...(failure ? { failure: { name: failure.name ?? null, error: errorMessage(failure.error).split('\n')[0] } } : {}) }, null, 2));
    } else {
      print(rehearsal);
    }
    if (rehearsal.failure) throw rehearsal.failure.error;
    return 0;
  },
);

function print(r: Rehearsal): void {
  out(`Copied ${r.copy.from} (${formatBytes(r.copy.bytes)}) onto ${r.copy.on} in ${formatMs(r.copy.ms)}; ${r.pending.length} pending migration${r.pending.length === 1 ? '' : 's'}.`);
  for (const m of r.migrations) printMigration(m);
  if (r.failure) out(`✗ ${r.failure.name ?? 'the deploy'} failed on the copy (below); the migrations after it were not rehearsed.`);
  const v = r.verdict;
  out('');
  out(`Verdict: ${r.migrations.length} of ${r.pending.length} migration${r.pending.length === 1 ? '' : 's'} applied to the copy in ${formatMs(v.totalMs)}.`);
  const limit = v.ddlLockTimeoutMs ? `MIGRATION_DDL_LOCK_TIMEOUT (${formatMs(v.ddlLockTimeoutMs)})` : 'MIGRATION_DDL_LOCK_TIMEOUT (0: no limit)';
  if (!v.longestLocks.length) out('  No table was locked against the app’s reads or writes long enough to be seen.');
  for (const lock of v.longestLocks) {
    out(`  ${lock.overTimeout ? '✗' : '✓'} ${lock.table}: ${lock.mode} for ${formatMs(lock.heldMs)} (blocks ${lock.blocks}) in ${lock.migration}: ${lock.overTimeout ? 'longer than' : 'within'} ${limit}`);
  }
  if (v.breaking.length) {
    out(`  ${v.breaking.length} change${v.breaking.length === 1 ? '' : 's'} break${v.breaking.length === 1 ? 's' : ''} the release still running during the deploy:`);
    for (const f of v.breaking) out(`    ${f.migration}: ${f.rule} (${f.statement})`);
  } else {
    out('  Nothing breaks the release still running during the deploy.');
  }
  out('The copy was dropped; nothing was written to the database.');
}

function printMigration(m: MigrationCost): void {
  out(`✓ ${m.name}: ${formatMs(m.ms)}, ${m.statements} statement${m.statements === 1 ? '' : 's'}`);
  for (const lock of m.locks) out(`    lock    ${lock.table}: ${lock.mode}, held ${formatMs(lock.heldMs)}`);
  for (const rows of m.rows) {
    const counts = rows.before !== undefined ? `${rows.before} -> ${rows.after} rows` : `${rows.inserted} inserted, ${rows.updated} updated, ${rows.deleted} deleted`;
    out(`    rows    ${rows.table}: ${counts}`);
  }
  for (const rewrite of m.rewrites) out(`    rewrite ${rewrite.table}: written anew, ${rewrite.rows} rows`);
  for (const index of m.indexes) out(`    index   ${index.index} on ${index.table}: built${index.ms === null ? '' : ` in ${formatMs(index.ms)}`}`);
  for (const finding of m.findings) out(`    lint    ${formatFinding(finding)}`);
}
