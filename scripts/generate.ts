/** `make generate`: derive the PostgreSQL schema, validate both, generate both clients. */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { out, runCommand } from '../src/cli.ts';
import { clientDir, generateClients } from '../src/authoring/generate.ts';
import { displayPath } from '../src/runtime/history.ts';
import { schemaPath } from '../src/authoring/schema.ts';

await runCommand(
  {
    summary: 'Derive prisma/schema.postgresql.prisma from prisma/schema.prisma, validate both and generate one Prisma client per provider (offline).',
    usage: 'generate [--if-changed]',
    options: { 'if-changed': { type: 'boolean' } },
    optionHelp: ['--if-changed  do nothing when the schema has not changed since the last generate'],
    examples: ['make generate', 'npm run prisma:generate'],
  },
  process.argv.slice(2),
  async (values) => {
    const result = await generateClients({ ifChanged: Boolean(values['if-changed']) });
    if (result.derivedWritten) out(`✓ Wrote ${displayPath(schemaPath('postgresql'))}`);
    out(result.generated ? `✓ Generated Prisma clients: ${displayPath(clientDir('sqlite'))}, ${displayPath(clientDir('postgresql'))}` : 'Prisma clients are up to date.');
    return 0;
  },
);
