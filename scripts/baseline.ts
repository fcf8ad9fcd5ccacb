/**
 * `make baseline` / `npm run db:baseline`: which prefix of the history a database
 * built outside the kit holds, judged by its schema; with --apply, record it.
 * Thin: src/authoring/baseline.ts does the work.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeDatasource, maskUrl } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { acceptCommand, findBaseline, recordBaseline } from '../src/authoring/baseline.ts';
import { readHistory } from '../src/runtime/history.ts';
import { SHADOW_ENV_HELP } from '../src/authoring/shadow.ts';
import { describeShadowFailure } from '../src/authoring/replay.ts';
import { KitError } from '../src/errors.ts';

/** Differences printed before the rest is left to --json. */
const MAX_LINES = 40;

await runCommand(
  {
    summary:
      'Find the longest prefix of the migration history whose schema is the live schema of a database without a history (the history replayed on a shadow database as deploy runs it; functions, triggers, views, policies, grants and the rest compared as well as tables; confirmed by Prisma’s engine). Read-only unless --apply, which records that prefix as applied, in one transaction under the migration lock; make deploy applies the rest. A migration the comparison cannot see (data only, …) is recorded only when accepted by name.',
    usage: 'baseline [--apply [--accept-unverified <name,…>]] [--json]',
    options: { apply: { type: 'boolean' }, 'accept-unverified': { type: 'string' }, json: { type: 'boolean' } },
    optionHelp: [
      '--apply                      record the matching migrations as applied (make baseline CONFIRM=1)',
      '--accept-unverified <names>  comma-separated: record these unverified migrations too, as run on this database (make baseline CONFIRM=1 ACCEPT_UNVERIFIED=…)',
      '--json                       print the finding as JSON on stdout',
    ],
    env: [
      'DATABASE_URL  the database; credentials are never printed',
      SHADOW_ENV_HELP,
      'MIGRATION_LOCK_TIMEOUT  seconds to wait for a migrator before recording (default 120)',
    ],
    examples: ['make baseline', 'make baseline CONFIRM=1', 'make baseline CONFIRM=1 ACCEPT_UNVERIFIED=20240101000000_backfill', 'DATABASE_URL=postgresql://app:secret@db:5432/rastar npm run -s db:baseline -- --json'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    const accepted = String(values['accept-unverified'] ?? '').split(',').map((name) => name.trim()).filter(Boolean);
    if (accepted.length && !values.apply) throw new KitError('BAD_USAGE', '--accept-unverified goes with --apply (make baseline CONFIRM=1 ACCEPT_UNVERIFIED=…)');
    if (!values.json) out(`Baseline: ${describeDatasource(t)}`);
    const history = readHistory(t.provider);
    const finding = await findBaseline(t, history, (line) => err(line));
    const recorded = values.apply && finding.matched !== null ? await recordBaseline(t, history, finding, accepted) : [];
    if (values.json) {
      const { shape, ...rest } = finding;
      out(JSON.stringify({ datasource: maskUrl(t.url), provider: t.provider, ...rest, recorded }, null, 2));
      return finding.matched === null ? 1 : 0;
    }
    if (finding.shadowFailure) err(`Note: ${describeShadowFailure(finding.shadowFailure)} The migrations from it on were not compared.`);
    if (finding.matched === null) {
      const near = finding.nearest;
      out(`No prefix of the ${finding.total} migrations matches the database.`);
      if (near) {
        out(`Nearest: the first ${near.prefix}${near.upTo ? ` (up to ${near.upTo})` : ''}; the database differs from it:`);
        for (const line of near.differences.slice(0, MAX_LINES)) out(`  ${line}`);
        if (near.differences.length > MAX_LINES) out(`  … and ${near.differences.length - MAX_LINES} more (--json lists them all)`);
        if (near.summary) {
          out('Prisma’s engine reads the difference as:');
          for (const line of near.summary.split('\n')) out(`  ${line}`);
        }
      }
      err('Nothing was recorded. Bring the database to one of the history’s states (or the history to the database), then run make baseline again.');
      return 1;
    }
    out(`The database matches the first ${finding.matched} of ${finding.total} migrations (up to ${finding.upTo}).`);
    if (finding.unverified.length) {
      out(`${finding.unverified.length} of them cannot be verified: the schema is the same before and after ${finding.unverified.length === 1 ? 'it' : 'them'} (data only, or objects the comparison does not see):`);
      for (const name of finding.unverified) out(`  ${name}`);
    }
    if (finding.dataChanges.length) err(`Note: ${finding.dataChanges.length} of them also change data (INSERT, UPDATE, DELETE, …), which no schema comparison can verify; check it by hand if the database was not built from these files.`);
    const rest = finding.total - finding.matched;
    if (!values.apply) {
      const accept = finding.unverified.length ? ` (once you know ${finding.unverified.length === 1 ? 'it' : 'each'} ran here)` : '';
      out(`Record them as applied with: ${acceptCommand('baseline CONFIRM=1', finding.unverified)}${accept}${rest ? `, then make deploy for the other ${rest}` : ''}`);
      return 0;
    }
    out(`✓ Recorded ${recorded.length} migration${recorded.length === 1 ? '' : 's'} as applied.`);
    out(rest ? `Apply the other ${rest} with: make deploy` : 'Nothing is pending: make check to confirm.');
    return 0;
  },
);
