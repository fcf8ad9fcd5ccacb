/**
 * `make verify` / `npm run db:verify`: check `_prisma_migrations` and that every
 * expected table exists; apply what is pending; restore what a damaged dev
 * database lost. PostgreSQL: report only, unless --fix.
 */
import { describeTarget } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { displayPath, readHistory } from '../src/migrations/production/history.ts';
import { lockTimeoutMs } from '../src/migrations/production/lock.ts';
import { statementLine } from '../src/migrations/production/sql-script.ts';
import { verifyDatabase } from '../src/migrations/authoring/verify.ts';

await runCommand(
  {
    summary: 'Verify the database against its history and schema: apply pending migrations, restore missing tables, columns and indexes (adding only, never dropping). On PostgreSQL it only reports unless --fix.',
    usage: 'reset-migrations [--fix] [--json]',
    options: { fix: { type: 'boolean' }, json: { type: 'boolean' } },
    optionHelp: ['--fix   on PostgreSQL, apply and restore instead of only reporting (SQLite always fixes)', '--json  print the result as JSON on stdout'],
    env: ['DATABASE_URL  the database (default file:./data/rastar.db)', 'MIGRATION_LOCK_TIMEOUT  seconds to wait for another migrator (default 120)'],
    examples: ['make verify', 'make verify FIX=1   # PostgreSQL', 'npm run db:verify -- --json'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    const fix = t.provider === 'sqlite' || Boolean(values.fix);
    const history = readHistory(t.provider);
    if (!values.json) err(`Verifying ${describeTarget(t)} against ${displayPath(history.dir)}${fix ? '' : ' (report only; --fix to repair)'}`);
    const result = await verifyDatabase(t, history, {
      fix,
      lockTimeoutMs: lockTimeoutMs(),
      onEvent: (event) => {
        if (event.event === 'applied' && !values.json) out(`✓ Migration applied: ${event.name}`);
      },
    });
    if (values.json) {
      out(JSON.stringify({ provider: t.provider, fix, ...result }, null, 2));
      return result.ok ? 0 : 1;
    }
    const { status } = result;
    out(`${status.pending.length ? '✗' : '✓'} _prisma_migrations: ${status.applied.length} applied, ${status.pending.length} pending, ${status.failed.length} failed`);
    if (status.pending.length) out(`  pending: ${status.pending.join(', ')}${fix ? '' : ' (apply with: make deploy)'}`);
    if (result.restored.length) {
      out(`${fix ? '✓ Restored' : '✗ Missing'} (recorded as applied, absent from the database):`);
      for (const statement of result.restored) out(`  ${statementLine(statement)}`);
      if (!fix) out('  repair with: make verify FIX=1');
    }
    if (result.unrepaired.length) {
      out('✗ Differences verify does not repair (they would drop or rewrite data):');
      for (const statement of result.unrepaired) out(`  ${statementLine(statement)}`);
      out('  create a migration for them (make migrate NAME=…) or fix the database by hand; see make check for the full drift report');
    }
    out(`✓ ${result.tables.length} tables present: ${result.tables.join(', ')}`);
    out(result.ok ? 'Database verified.' : 'Database needs attention (see above).');
    return result.ok ? 0 : 1;
  },
);
