/** `make parity`: the two histories are in lockstep and each yields the source schema. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { err, out, runCommand } from '../src/cli.ts';
import { checkParity } from '../src/authoring/parity.ts';

await runCommand(
  {
    summary: 'Check that prisma/migrations/sqlite and prisma/migrations/postgresql have the same migration names and lock files, that the derived schema is fresh, and that each history, replayed on a shadow database, yields prisma/schema.prisma.',
    usage: 'parity [--json]',
    options: { json: { type: 'boolean' } },
    optionHelp: ['--json  print the result as JSON on stdout'],
    env: ['SHADOW_DATABASE_URL  PostgreSQL server for the shadow database (default: an embedded PostgreSQL started for the occasion)'],
    examples: ['make parity'],
  },
  process.argv.slice(2),
  async (values) => {
    const result = await checkParity(values.json ? undefined : (line) => err(line));
    if (values.json) {
      out(JSON.stringify(result, null, 2));
      return result.ok ? 0 : 1;
    }
    for (const item of result.items) {
      const [first, ...rest] = item.detail.split('\n');
      out(`${item.ok ? '✓' : '✗'} ${item.check.padEnd(24)} ${first}`);
      for (const line of rest) out(`  ${line}`);
      for (const line of item.ok ? [] : (item.hint?.split('\n') ?? [])) out(`  → ${line}`);
    }
    out(result.ok ? 'The histories are in lockstep.' : 'The histories are out of lockstep: fix the lines marked ✗.');
    return result.ok ? 0 : 1;
  },
);
