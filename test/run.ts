/**
 * `npm test`: one embedded PostgreSQL for the whole run (unless
 * TEST_DATABASE_URL names a server of yours), then node:test on every
 * `*.test.ts` under test/ (or the files given as arguments).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { maskUrl, projectRoot } from '../src/db.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/authoring/embedded-postgres.ts';
import { generateClients } from '../src/authoring/generate.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? testFiles(join(dir, entry.name)) : entry.name.endsWith('.test.ts') ? [join(dir, entry.name)] : []))
    .sort();
}

const files = process.argv.length > 2 ? process.argv.slice(2) : testFiles(join(projectRoot, 'test')).map((f) => relative(process.cwd(), f));
// Tests load the generated clients: make sure they exist and match the schema before any test starts.
await generateClients({ ifChanged: true });

let server: EmbeddedServer | undefined;
const env = { ...process.env };
if (!env.TEST_DATABASE_URL) {
  server = await startEmbeddedPostgres();
  env.TEST_DATABASE_URL = server.url;
  console.log(`PostgreSQL for tests: embedded, ${maskUrl(server.url)}`);
} else {
  console.log(`PostgreSQL for tests: ${maskUrl(env.TEST_DATABASE_URL)}`);
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env, cwd: projectRoot });
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
const code: number = await new Promise((done) => child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0))));
await server?.stop();
process.exit(code);
