/**
 * Prisma's `packages/cli/src/__tests__/incomplete-schemas.test.ts` (7.x) as the kit's
 * contract: a config or schema that is incomplete (an invalid URL, an unset variable, no
 * URL, an empty schema) meets each command, and the first failing check wins. Its four `migrate dev` cases fail on the incomplete config before the engine, as
 * Prisma's do (the kit refuses `migrate dev` only where it would write a migration).
 *
 * Every failing case must fail (Prisma's `expect.assertions(1)`): exit 1, the message on
 * stderr as `Error: <message>`, or, for a config that cannot load, the bare message.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import type { RunResult } from '../helpers.ts';
import { SQLITE_DBEXECUTE_SCRIPT } from './fixtures.ts';
import { datasourceUrlRequired, fixture, output, prisma, stderrAfterConfigLine, type Files } from './harness.ts';

// cli:incomplete-schemas fixtures: these two helpers write their configs and schemas out to the byte.

/** The config of the fixtures that name a URL: the schema at ./prisma/schema.prisma, the URL as the TypeScript expression `url`. */
function configWithUrl(url: string): string {
  const imports = url.startsWith('env(') ? 'defineConfig, env' : 'defineConfig';
  return `import { ${imports} } from '@prisma/config'\n\nexport default defineConfig({\n  schema: './prisma/schema.prisma',\n  datasource: {\n    url: ${url},\n  },\n})\n`;
}

/** A schema holding only a PostgreSQL `datasource db` block, after the fixture's comment saying what is incomplete. */
function postgresDatasourceOnly(comment: string): string {
  return `// ${comment}\n\ndatasource db {\n  provider = "postgresql"\n}\n`;
}

const URL_ENV_SET_INVALID: Files = {
  'prisma.config.ts': configWithUrl("'invalid-url'"),
  'prisma/schema.prisma': postgresDatasourceOnly('the schema has a `datasource db` block with a defined - but invalid - env url'),
};

const URL_ENV_UNSET: Files = {
  'prisma.config.ts': configWithUrl("env('SOME_UNDEFINED_DB')"),
  'prisma/schema.prisma': postgresDatasourceOnly('the schema has a `datasource db` block with an undefined env url'),
};

const EMPTY_SCHEMA_TEXT = '// the schema is completely empty, no models, no blocks\n';

const EMPTY_SCHEMA: Files = {
  'prisma.config.ts': configWithUrl("'file:dev.db'"),
  'prisma/schema.prisma': EMPTY_SCHEMA_TEXT,
};

const NO_URL: Files = {
  'prisma.config.ts': `import { defineConfig } from '@prisma/config'

// @ts-expect-error — intentionally missing datasource block
export default defineConfig({
  schema: './prisma/schema.prisma',
})
`,
  'prisma/schema.prisma': postgresDatasourceOnly('the schema has a `datasource db` block with no url field'),
};

/** `prisma <args>`, SOME_UNDEFINED_DB unset whatever the runner has. */
const run = (dir: string, args: string[]) => prisma(dir, args, { SOME_UNDEFINED_DB: undefined });

/** What the command reported on stderr, the config's line left out. */
const errors = (result: RunResult): string => stderrAfterConfigLine(result.stderr);

/** The command failed with exit 1 and `Error: <message>` (the whole message, on its own lines). */
function assertFailsWith(result: RunResult, message: string): string {
  assert.equal(result.code, 1, output(result));
  const text = errors(result);
  assert.ok(text.includes(`Error: ${message}\n`), `expected Error: ${JSON.stringify(message)}\n${output(result)}`);
  return text;
}

/** P1013 as the one-shot `cli can-connect-to-database` reports it: `P1013: <message>` on one line. */
function assertP1013Colon(result: RunResult): string {
  assert.equal(result.code, 1, output(result));
  const text = errors(result);
  const line = text.split('\n').find((l) => l.startsWith('Error: P1013'));
  assert.ok(line, output(result));
  assert.match(line, /^Error: P1013: The provided database string is invalid\. /, output(result));
  return line;
}

/** P1013 as an RPC's EngineError reports it: `P1013`, a blank line, the message. */
function assertP1013Rpc(result: RunResult): string {
  assert.equal(result.code, 1, output(result));
  const text = errors(result);
  assert.match(text, /^Error: P1013\n\nThe provided database string is invalid\. /m, output(result));
  return text.slice(text.indexOf('Error: P1013'));
}

/** "The scheme is not recognized in database URL": the URL's scheme named as the fault. */
const SCHEME_NOT_RECOGNIZED = /The scheme is not recognized in database URL|is not a URL/;

/** Exit 1 with the config-load failure alone (no `Error: ` prefix), no command run. */
function assertConfigLoadFails(dir: string, result: RunResult): void {
  assert.equal(result.code, 1, output(result));
  const message = `Failed to load config file "${dir}" as a TypeScript/JavaScript module. Error: PrismaConfigEnvError: Cannot resolve environment variable: SOME_UNDEFINED_DB.`;
  assert.ok(stripVTControlCharacters(result.stderr).split('\n').includes(message), `expected the line ${JSON.stringify(message)}\n${output(result)}`);
  assert.doesNotMatch(result.stderr, /Prisma schema loaded from/, `no command ran\n${output(result)}`);
  assert.equal(result.stdout.trim(), '', output(result));
}

// ---------------------------------------------------------------------------
// [wasm] incomplete-schemas › datasource-block-url-env-set-invalid

test('[wasm] incomplete-schemas › datasource-block-url-env-set-invalid › db push', async (t) => {
  const dir = fixture(t, URL_ENV_SET_INVALID);
  const result = await run(dir, ['db', 'push']);
  const line = assertP1013Colon(result);
  assert.match(line, SCHEME_NOT_RECOGNIZED, output(result));
  assert.match(errors(result), /^Prisma schema loaded from prisma\/schema\.prisma\.$/m, output(result));
  assert.equal(stripVTControlCharacters(result.stdout).trim(), 'Datasource "db": PostgreSQL database', output(result));
});

test('[wasm] incomplete-schemas › datasource-block-url-env-set-invalid › db pull', async (t) => {
  const dir = fixture(t, URL_ENV_SET_INVALID);
  const result = await run(dir, ['db', 'pull']);
  const text = assertP1013Rpc(result);
  // Prisma: "`datasource.url` in `prisma.config.ts` is invalid: must start with the protocol `postgresql://` or `postgres://`."
  assert.match(text, /datasource[ .]url/, `names the datasource url\n${output(result)}`);
  assert.match(text, /prisma\.config\.ts/, `names the config file\n${output(result)}`);
  assert.match(text, /postgresql:\/\//, `names the protocol it needs\n${output(result)}`);
  assert.match(errors(result), /^Prisma schema loaded from prisma\/schema\.prisma\.$/m, output(result));
  assert.match(stripVTControlCharacters(result.stdout), /^Datasource "db": PostgreSQL database$/m, output(result));
  assert.equal(readFileSync(join(dir, 'prisma', 'schema.prisma'), 'utf8'), URL_ENV_SET_INVALID['prisma/schema.prisma'], 'the schema is not rewritten');
});

test('[wasm] incomplete-schemas › datasource-block-url-env-set-invalid › db execute', async (t) => {
  const dir = fixture(t, { ...URL_ENV_SET_INVALID, 'script.sql': SQLITE_DBEXECUTE_SCRIPT });
  const result = await run(dir, ['db', 'execute', '--file=./script.sql']);
  const text = assertP1013Rpc(result);
  assert.match(text, SCHEME_NOT_RECOGNIZED, output(result));
  assert.doesNotMatch(result.stdout, /Script executed successfully/, output(result));
});

test('[wasm] incomplete-schemas › datasource-block-url-env-set-invalid › migrate reset', async (t) => {
  const dir = fixture(t, URL_ENV_SET_INVALID);
  const result = await run(dir, ['migrate', 'reset']);
  const line = assertP1013Colon(result);
  assert.match(line, SCHEME_NOT_RECOGNIZED, output(result));
  assert.equal(stripVTControlCharacters(result.stdout).trim(), 'Datasource "db": PostgreSQL database', `before the confirmation and --force\n${output(result)}`);
  assert.doesNotMatch(result.stderr, /--force/, output(result));
});

// migrate dev (which the kit refuses when it reaches the engine's dev methods) fails first on the incomplete config, as Prisma's does.
test('[wasm] incomplete-schemas › datasource-block-url-env-set-invalid › migrate dev', async (t) => {
  const dir = fixture(t, URL_ENV_SET_INVALID);
  const result = await run(dir, ['migrate', 'dev']);
  assert.match(assertP1013Colon(result), SCHEME_NOT_RECOGNIZED, output(result));
  assert.ok(!existsSync(join(dir, 'prisma', 'migrations')), 'no migration written');
});

// ---------------------------------------------------------------------------
// [wasm] incomplete-schemas › datasource-block-url-env-unset: the config cannot load

// Each command in Prisma's order (validate twice, as there); db pull and format must also leave the schema as it was.
const ENV_UNSET_CASES: { name: string; command: string[]; keepsSchema?: boolean }[] = [
  { name: 'validate', command: ['validate'] },
  { name: 'db push', command: ['db', 'push'] },
  { name: 'db pull', command: ['db', 'pull'], keepsSchema: true },
  { name: 'db execute', command: ['db', 'execute', '--file=./script.sql'] },
  { name: 'migrate reset', command: ['migrate', 'reset'] },
  { name: 'migrate dev', command: ['migrate', 'dev'] },
  { name: 'validate (second occurrence)', command: ['validate'] },
  { name: 'format', command: ['format'], keepsSchema: true },
];

for (const { name, command, keepsSchema } of ENV_UNSET_CASES) {
  test(`[wasm] incomplete-schemas › datasource-block-url-env-unset › ${name}`, async (t) => {
    const dir = fixture(t, command[1] === 'execute' ? { ...URL_ENV_UNSET, 'script.sql': SQLITE_DBEXECUTE_SCRIPT } : URL_ENV_UNSET);
    assertConfigLoadFails(dir, await run(dir, command));
    if (keepsSchema) assert.equal(readFileSync(join(dir, 'prisma', 'schema.prisma'), 'utf8'), URL_ENV_UNSET['prisma/schema.prisma'], 'the schema is not rewritten');
  });
}

// ---------------------------------------------------------------------------
// [wasm] incomplete-schemas › empty-schema: valid, and formatted

test('[wasm] incomplete-schemas › empty-schema › validate', async (t) => {
  const dir = fixture(t, EMPTY_SCHEMA);
  const result = await run(dir, ['validate']);
  assert.equal(result.code, 0, output(result));
  assert.match(stripVTControlCharacters(result.stdout), /^The schema at prisma\/schema\.prisma is valid 🚀$/m, output(result));
  assert.match(errors(result), /^Prisma schema loaded from prisma\/schema\.prisma\.$/m, output(result));
  assert.doesNotMatch(output(result), /panic/i, 'no engine panic');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file');
});

test('[wasm] incomplete-schemas › empty-schema › format', async (t) => {
  const dir = fixture(t, EMPTY_SCHEMA);
  const result = await run(dir, ['format']);
  assert.equal(result.code, 0, output(result));
  assert.match(stripVTControlCharacters(result.stdout), /^Formatted prisma\/schema\.prisma in [\d.]+m?s 🚀$/m, output(result));
  assert.equal(readFileSync(join(dir, 'prisma', 'schema.prisma'), 'utf8'), EMPTY_SCHEMA_TEXT, 'formatted: the comment, as it was');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file');
});

// ---------------------------------------------------------------------------
// [wasm] incomplete-schemas › datasource-block-no-url: the config names no datasource

for (const command of [['db', 'push'], ['db', 'pull'], ['db', 'execute', '--file=./script.sql'], ['migrate', 'reset']]) {
  const name = command.slice(0, 2).join(' ');
  test(`[wasm] incomplete-schemas › datasource-block-no-url › ${name}`, async (t) => {
    const dir = fixture(t, { ...NO_URL, 'script.sql': SQLITE_DBEXECUTE_SCRIPT });
    const result = await run(dir, command);
    const text = assertFailsWith(result, datasourceUrlRequired(name));
    // db push loads the schema before the URL check (Prisma's stderr shows it first).
    if (name === 'db push') assert.ok(text.indexOf('Prisma schema loaded from prisma/schema.prisma.') >= 0 && text.indexOf('Prisma schema loaded from') < text.indexOf('Error: '), `the schema is loaded first\n${output(result)}`);
    assert.doesNotMatch(result.stdout, /Datasource "db"/, output(result));
  });
}

test('[wasm] incomplete-schemas › datasource-block-no-url › migrate dev', async (t) => {
  const dir = fixture(t, NO_URL);
  const result = await run(dir, ['migrate', 'dev']);
  assertFailsWith(result, datasourceUrlRequired('migrate dev'));
});

// ---------------------------------------------------------------------------
// [normalized library/binary] incomplete-schemas › empty-schema: no datasource block

for (const command of [['db', 'push'], ['db', 'pull'], ['migrate', 'reset']]) {
  test(`[normalized library/binary] incomplete-schemas › empty-schema › ${command.join(' ')}`, async (t) => {
    const dir = fixture(t, EMPTY_SCHEMA);
    const result = await run(dir, command);
    const text = assertFailsWith(result, 'Schema must contain a datasource block');
    assert.match(text, /^Prisma schema loaded from prisma\/schema\.prisma\.$/m, output(result));
    assert.doesNotMatch(result.stdout, /Datasource|created at|reset/, `nothing printed about a database\n${output(result)}`);
    assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file created');
  });
}

test('[normalized library/binary] incomplete-schemas › empty-schema › migrate dev', async (t) => {
  const dir = fixture(t, EMPTY_SCHEMA);
  const result = await run(dir, ['migrate', 'dev']);
  assertFailsWith(result, 'Schema must contain a datasource block');
  assert.ok(!existsSync(join(dir, 'dev.db')), 'no database file created');
});
