/**
 * `make verify` / `npm run db:verify`: check `_prisma_migrations` and that every
 * expected table exists; apply what is pending; restore what a damaged dev
 * database lost. PostgreSQL: report only, unless --fix.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeTarget } from '../src/db.ts';
import { err, out, printDeployEvents, printLines, runCommand, target } from '../src/cli.ts';
import { displayPath, readHistory } from '../src/runtime/history.ts';
import { verifyDatabase, verifyReport } from '../src/authoring/verify.ts';
import { lockTimeoutMs } from '../src/env.ts';

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
      onEvent: printDeployEvents({ json: Boolean(values.json) }),
    });
    if (values.json) {
      out(JSON.stringify({ provider: t.provider, fix, ...result }, null, 2));
      return result.ok ? 0 : 1;
    }
    printLines(verifyReport(result, fix));
    return result.ok ? 0 : 1;
  },
);
