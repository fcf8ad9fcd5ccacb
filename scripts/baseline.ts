/**
 * `make baseline` / `npm run db:baseline`: which prefix of the history a database
 * built outside the kit holds, judged by its schema; with --apply, record it.
 * Thin: src/authoring/baseline.ts does the work.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeDatasource, maskUrl } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { findBaseline, recordBaseline } from '../src/authoring/baseline.ts';
import { readHistory } from '../src/runtime/history.ts';
import { SHADOW_ENV_HELP } from '../src/authoring/shadow.ts';

await runCommand(
  {
    summary:
      'Find the longest prefix of the migration history whose schema is the live schema of a database without a history (each prefix replayed on a shadow database, compared by Prisma’s engine). Read-only unless --apply, which records that prefix as applied, in one transaction under the migration lock; make deploy applies the rest.',
    usage: 'baseline [--apply] [--json]',
    options: { apply: { type: 'boolean' }, json: { type: 'boolean' } },
    optionHelp: ['--apply  record the matching migrations as applied (make baseline CONFIRM=1)', '--json   print the finding as JSON on stdout'],
    env: [
      'DATABASE_URL  the database; credentials are never printed',
      SHADOW_ENV_HELP,
      'MIGRATION_LOCK_TIMEOUT  seconds to wait for a migrator before recording (default 120)',
    ],
    examples: ['make baseline', 'make baseline CONFIRM=1', 'DATABASE_URL=postgresql://app:secret@db:5432/rastar npm run -s db:baseline -- --json'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    if (!values.json) out(`Baseline: ${describeDatasource(t)}`);
    const history = readHistory(t.provider);
    const finding = await findBaseline(t, history, (line) => err(line));
    const recorded = values.apply && finding.matched !== null ? await recordBaseline(t, history, finding) : [];
    if (values.json) {
      const { shape, ...rest } = finding;
      out(JSON.stringify({ datasource: maskUrl(t.url), provider: t.provider, ...rest, recorded }, null, 2));
      return finding.matched === null ? 1 : 0;
    }
    if (finding.matched === null) {
      const near = finding.nearest;
      out(`No prefix of the ${finding.total} migrations matches the database.`);
      if (near) {
        out(`Nearest: the first ${near.prefix}${near.upTo ? ` (up to ${near.upTo})` : ''}; the database differs from it:`);
        for (const line of near.summary.split('\n')) out(`  ${line}`);
      }
      err('Nothing was recorded. Bring the database to one of the history’s states (or the history to the database), then run make baseline again.');
      return 1;
    }
    out(`The database matches the first ${finding.matched} of ${finding.total} migrations (up to ${finding.upTo}).`);
    if (finding.unseen.length) err(`Note: ${finding.unseen.join(', ')} change${finding.unseen.length === 1 ? 's' : ''} nothing the schema shows (data only?): counted as applied; check their data by hand.`);
    const rest = finding.total - finding.matched;
    if (!values.apply) {
      out(`Record them as applied with: make baseline CONFIRM=1${rest ? `, then make deploy for the other ${rest}` : ''}`);
      return 0;
    }
    out(`✓ Recorded ${recorded.length} migration${recorded.length === 1 ? '' : 's'} as applied.`);
    out(rest ? `Apply the other ${rest} with: make deploy` : 'Nothing is pending: make check to confirm.');
    return 0;
  },
);
