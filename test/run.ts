/**
 * `npm test`: one embedded PostgreSQL for the whole run (unless
 * TEST_DATABASE_URL names a server of yours), then node:test on every
 * `*.test.ts` under test/ (or the files given as arguments).
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { maskUrl, projectRoot } from '../src/db.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/authoring/embedded-postgres.ts';
import { generateClients } from '../src/authoring/generate.ts';
import { ADMIN, SESSION_SECRET } from './fixtures/secrets.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? (entry.name === 'node_modules' ? [] : testFiles(join(dir, entry.name))) : entry.name.endsWith('.test.ts') ? [join(dir, entry.name)] : []))
    .sort();
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles(join(projectRoot, 'test')).map((f) => relative(process.cwd(), f));
// Tests load the generated clients: make sure they exist and match the schema before any test starts.
await generateClients({ ifChanged: true });
// The kit's processes run compiled, from this source: the TypeScript loader would cost each of
// the run's hundreds of processes about 0.13 s (scriptArgs in test/helpers.ts).
const compiling = Date.now();
execFileSync(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(projectRoot, 'tsconfig.json')], { stdio: 'inherit', cwd: projectRoot });
console.log(`Compiled the kit into dist/ for the test processes in ${((Date.now() - compiling) / 1000).toFixed(1)} s`);

console.log(`Node.js for tests: ${process.version}`);
let server: EmbeddedServer | undefined;
const env: NodeJS.ProcessEnv = { ...process.env, KIT_FROM_SOURCE: 'false' };
if (!env.TEST_DATABASE_URL) {
  server = await startEmbeddedPostgres();
  env.TEST_DATABASE_URL = server.url;
  console.log(`PostgreSQL for tests: embedded, ${maskUrl(server.url)}`);
} else {
  console.log(`PostgreSQL for tests: ${maskUrl(env.TEST_DATABASE_URL)}`);
}

// Secrets the tests hand to the kit must never reach the test log: each line is
// forwarded with them masked, and the run fails if one appeared.
const secrets = [ADMIN.password, SESSION_SECRET, new URL(env.TEST_DATABASE_URL).password ? decodeURIComponent(new URL(env.TEST_DATABASE_URL).password) : ''].filter((s) => s.length >= 8);
let leaked = 0;
// One file more than the cores: most tests wait on the kit's processes and the servers, so two
// files on two cores left a quarter of the CPU idle (make test: 500 s at 2, 474 s at 3).
const concurrency = Number(process.env.TEST_CONCURRENCY) || availableParallelism() + 1;
const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], { stdio: ['inherit', 'pipe', 'pipe'], env, cwd: projectRoot });
for (const [from, to] of [
  [child.stdout, process.stdout],
  [child.stderr, process.stderr],
] as const) {
  let partial = '';
  const forward = (text: string) => {
    let line = text;
    for (const secret of secrets) {
      if (line.includes(secret)) {
        leaked++;
        line = line.split(secret).join('[a secret of the tests]');
      }
    }
    to.write(line);
  };
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    const lines = (partial + chunk).split(/(?<=\n)/);
    partial = lines.at(-1)?.endsWith('\n') ? '' : (lines.pop() ?? '');
    for (const line of lines) forward(line);
  });
  from.on('end', () => partial && forward(partial));
}
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
let code: number = await new Promise((done) => child.on('close', (c, signal) => done(c ?? (signal ? 1 : 0))));
await server?.stop();
if (leaked) {
  console.error(`✗ ${leaked} line(s) of the test output showed a password or secret the tests use (masked above)`);
  code ||= 1;
}
process.exit(code);
