/**
 * `make repair` / `npm run db:repair`: realign the checksums of applied history rows
 * with the migration files, after proving there is no drift.
 * Thin: src/authoring/repair.ts does the work.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { describeDatasource, maskUrl } from '../src/db.ts';
import { err, out, runCommand, target } from '../src/cli.ts';
import { repairHistory } from '../src/authoring/repair.ts';
import { acceptCommand } from '../src/authoring/baseline.ts';
import { readHistory } from '../src/runtime/history.ts';
import { SHADOW_ENV_HELP } from '../src/authoring/shadow.ts';

await runCommand(
  {
    summary:
      'Realign a history whose rows disagree with the migrations folder (other checksums, e.g. rows of an older history): first the live schema is compared with what the applied migrations yield (replayed on a shadow database); on no drift, the applied rows get the files’ checksums, in one transaction under the migration lock, and every changed row is listed. A failed row is touched only with --rolled-back <name>. Refuses on drift, naming it.',
    usage: 'repair [--rolled-back <name>] [--accept-unverified <name,…>] [--dry-run] [--json]',
    options: { 'rolled-back': { type: 'string' }, 'accept-unverified': { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } },
    optionHelp: [
      '--rolled-back <name>         also mark the failed migration <name> as rolled back (the next deploy retries it)',
      '--accept-unverified <names>  comma-separated: realign these edited migrations too, though the comparison cannot see their effect (make repair ACCEPT_UNVERIFIED=…)',
      '--dry-run                    list what would change, write nothing',
      '--json                       print the result as JSON on stdout',
    ],
    env: [
      'DATABASE_URL  the database; credentials are never printed',
      SHADOW_ENV_HELP,
      'MIGRATION_LOCK_TIMEOUT  seconds to wait for a migrator before writing (default 120)',
    ],
    examples: ['make repair', 'make repair DRY_RUN=1', 'make repair ROLLED_BACK=20260106063036_add_mcp_tool_logging'],
  },
  process.argv.slice(2),
  async (values) => {
    const t = target();
    if (!values.json) out(`Repair: ${describeDatasource(t)}`);
    const rolledBack = values['rolled-back'] as string | undefined;
    const acceptUnverified = String(values['accept-unverified'] ?? '').split(',').map((name) => name.trim()).filter(Boolean);
    const result = await repairHistory(t, readHistory(t.provider), { rolledBack, acceptUnverified, dryRun: Boolean(values['dry-run']), progress: (line) => err(line) });
    if (values.json) {
      out(JSON.stringify({ datasource: maskUrl(t.url), provider: t.provider, ...result }, null, 2));
      return 0;
    }
    const verb = result.written ? 'Realigned' : 'Would realign';
    if (result.checksums.length) out(`${verb} ${result.checksums.length} checksum${result.checksums.length === 1 ? '' : 's'} with the files:`);
    for (const c of result.checksums) out(`  ${c.name}: ${c.from.slice(0, 12)}… → ${c.to.slice(0, 12)}…${result.unverified.includes(c.name) ? ' (unverified: the schema is the same before and after it)' : ''}`);
    if (!result.written && result.unverified.length) out(`${result.unverified.length} of them cannot be verified; realign them with: ${acceptCommand('repair', result.unverified)}`);
    for (const name of result.rolledBack) out(`${result.written ? 'Marked' : 'Would mark'} ${name} as rolled back; make deploy applies it again.`);
    if (!result.checksums.length && !result.rolledBack.length) out('No drift, and every applied row already matches its file: nothing to repair.');
    for (const name of result.failedLeft) err(`Left as is: ${name} failed; to retry it: make repair ROLLED_BACK=${name}`);
    if (result.unknown.length) err(`Left as is: rows of migrations this folder does not have: ${result.unknown.join(', ')}`);
    return 0;
  },
);
