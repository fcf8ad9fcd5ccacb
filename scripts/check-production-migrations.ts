/**
 * `make check` / `npm run db:check`: the production check. Read-only: writes
 * nothing and creates nothing on the server. Exit 0 only when all holds.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeDatasource, maskUrl } from '../src/db.ts';
import { out, runCommand, target } from '../src/cli.ts';
import { checkProduction } from '../src/authoring/check.ts';
import { readHistory } from '../src/runtime/history.ts';

await runCommand(
  {
    summary:
      'Check a (production) database against the migrations shipped with this code, read-only: connection, lock file, history, pending, failed, edited, unknown-in-database, drift (the live schema against what the migrations produce) and schema (schema.prisma against what the migrations produce: a change without a migration). Writes and creates nothing on the target.',
    usage: 'check-production-migrations [--json]',
    options: { json: { type: 'boolean' } },
    optionHelp: ['--json  print the report as JSON on stdout'],
    env: [
      'DATABASE_URL  the database to check; credentials are never printed',
      'DB_CONNECT_TIMEOUT  seconds to retry an unreachable server (default 5)',
      'SHADOW_DATABASE_URL  PostgreSQL server (never the target) on which the history is replayed to tell drift from a missing migration; default: an embedded PostgreSQL where the dev dependencies are installed',
    ],
    examples: ['DATABASE_URL=postgresql://app:secret@db:5432/rastar make check', 'docker exec rastar-admin-panel npm run -s db:check -- --json'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    const report = await checkProduction(t, readHistory(t.provider));
    if (values.json) {
      out(JSON.stringify({ datasource: maskUrl(t.url), provider: t.provider, ...report }, null, 2));
      return report.ok ? 0 : 1;
    }
    out(`Production check: ${describeDatasource(t)}`);
    for (const check of report.checks) {
      const mark = check.ok === null ? '-' : check.ok ? '✓' : '✗';
      const [first, ...rest] = check.detail.split('\n');
      out(`${mark} ${check.id.padEnd(10)} ${first}`);
      for (const line of rest) out(`               ${line}`);
      if (check.ok === false && check.hint) for (const line of check.hint.split('\n')) out(`               → ${line}`);
    }
    out(report.ok ? 'All checks passed.' : `${report.checks.filter((c) => c.ok === false).length} check(s) failed.`);
    return report.ok ? 0 : 1;
  },
);
