/**
 * `make lint` / `npm run db:lint`: the zero-downtime rules over the migrations of
 * both folders. Thin: src/authoring/lint.ts does the work.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeTarget, maskUrl } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { formatFinding, lintHistories, type Selection } from '../src/authoring/lint.ts';

await runCommand(
  {
    summary:
      'Check migrations, in both dialects, for what breaks the release still running beside a deploy (dropped or renamed columns, …), what locks PostgreSQL tables the application waits on, SQLite table rebuilds and writes to every row. One finding per line: migration, dialect:line, rule, the statement, why, and the safe way. Default: the migrations not yet applied to DATABASE_URL when it is reachable, else the newest. Silence one with a comment in the migration: -- lint:allow <rule> <reason>.',
    usage: 'lint-migrations [--all | --name <migration>] [--json]',
    options: { all: { type: 'boolean' }, name: { type: 'string' }, json: { type: 'boolean' } },
    optionHelp: ['--all              every migration of both folders', '--name <migration>  one migration', '--json             print the report as JSON on stdout'],
    env: ['DATABASE_URL  the database whose pending migrations are linted (read-only); a SQLite one also gives the row counts of rebuilt tables'],
    examples: ['make lint', 'make lint ALL=1', 'npm run -s db:lint -- --name 20260106070831_add_session_message_to_tool_logs --json'],
  },
  process.argv.slice(2),
  async (values) => {
    const selection: Selection = values.all ? { kind: 'all' } : values.name ? { kind: 'name', name: String(values.name) } : { kind: 'pending' };
    const t = selection.kind === 'pending' ? target() : undefined;
    const report = await lintHistories(selection, t, describeTarget);
    if (values.json) {
      out(JSON.stringify({ ...(t ? { datasource: maskUrl(t.url) } : {}), ...report }, null, 2));
      return report.failed ? 1 : 0;
    }
    out(`Linting ${report.scope}: ${report.migrations.length} migration${report.migrations.length === 1 ? '' : 's'} in both folders`);
    for (const finding of report.findings) out(formatFinding(finding));
    const count = (level: string) => report.findings.filter((f) => f.allowed === undefined && f.level === level).length;
    const allowed = report.findings.filter((f) => f.allowed !== undefined).length;
    out(`${count('error')} error(s), ${count('warning')} warning(s)${allowed ? `, ${allowed} allowed` : ''}.`);
    if (report.failed) err('An error-level finding stands: change the migration the safe way, or allow it with -- lint:allow <rule> <reason> in migration.sql.');
    return report.failed ? 1 : 0;
  },
);
