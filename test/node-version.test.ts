/**
 * Every script refuses a Node.js that package.json `engines` does not admit: one line
 * naming the required version, exit 2, nothing done. Run on a real older Node.js from
 * the npm registry, and on the image's line, which must be admitted.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { projectRoot } from '../src/db.ts';
import { requiredNode, satisfies } from '../src/node-version.ts';
import { childEnv, execCapture, tempDir } from './helpers.ts';
import { output } from './fixtures/kit.ts';
import { imageNodeVersion, nodeLine } from './fixtures/node-line.ts';

const engines = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
const scripts = readdirSync(join(projectRoot, 'scripts')).filter((name) => name.endsWith('.ts')).sort();
const tsxCli = join(projectRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const refusal = (version: string) => `Error: Node.js ${version} is not supported: the rastar kit needs Node.js ${engines} (package.json "engines")`;

describe('the supported Node.js versions', () => {
  test('engines is read from package.json, and admits exactly the lines Prisma 7 admits', () => {
    assert.equal(requiredNode(), engines);
    const admitted = ['20.19.0', '20.20.2', '22.12.0', '24.0.0', '24.22.3', '26.12.1', '27.0.0', 'v26.1.0'];
    const refused = ['18.20.8', '20.18.1', '21.7.3', '22.11.0', '23.9.0', '', 'lts', '20'];
    for (const version of admitted) assert.equal(satisfies(version, engines), true, `${version} should be admitted by ${engines}`);
    for (const version of refused) assert.equal(satisfies(version, engines), false, `${version} should be refused by ${engines}`);
  });

  test('the image\'s Node.js and this one are admitted', () => {
    const image = imageNodeVersion();
    assert.match(image, /^\d+\.\d+\.\d+$/);
    assert.equal(satisfies(image, engines), true, `engines ${engines} refuses the image's Node.js ${image}`);
    assert.equal(satisfies(process.versions.node, engines), true);
  });

  test('every script imports the check first, before any module of the kit or a package', () => {
    assert.ok(scripts.length >= 17, `scripts/*.ts: ${scripts.join(', ')}`);
    for (const script of scripts) {
      const firstImport = /^import\s.*$/m.exec(readFileSync(join(projectRoot, 'scripts', script), 'utf8'))?.[0];
      assert.match(firstImport ?? '', /^import '\.\.\/src\/node-version\.ts';/, `scripts/${script}: its first import is ${firstImport}`);
    }
  });

  test('on Node.js 20.18 every script prints one line naming the required version and exits 2, doing nothing', { timeout: 600_000 }, async (t) => {
    const old = nodeLine('20.18.1');
    const dir = tempDir(t);
    const database = join(dir, 'never.db');
    const env = old.env(childEnv({ DATABASE_URL: `file:${database}`, NODE_ENV: 'development' }));
    const runs = scripts.map(async (script) => {
      const result = await execCapture(old.node, [tsxCli, join(projectRoot, 'scripts', script), 'status'], { env, cwd: dir }).done;
      assert.equal(result.code, 2, `${script}: ${output(result)}`);
      assert.equal(result.stdout, '', `${script} printed on stdout`);
      assert.equal(result.stderr, `${refusal('20.18.1')}\n`, script);
    });
    await Promise.all(runs);
    assert.equal(existsSync(database), false, 'a script opened the database');
  });

  test('on Node.js 20.18 the schema engine the prisma CLI runs names the required version in the error it answers', { timeout: 600_000 }, async (t) => {
    const old = nodeLine('20.18.1');
    const env = old.env(childEnv({ DATABASE_URL: `file:${join(tempDir(t), 'never.db')}` }));
    const engine = join(projectRoot, 'bin', 'schema-engine');
    // One-shot (`--version`): exit 1 and a JSON log, the way the CLI reads a failed engine.
    const oneShot = await execCapture(old.node, [engine, '--version'], { env }).done;
    assert.equal(oneShot.code, 1, output(oneShot));
    const log = JSON.parse(oneShot.stderr.trim().split('\n').at(-1)!) as { fields: { message: string } };
    assert.equal(log.fields.message, `The kit's schema engine stopped (exit code 2: ${refusal('20.18.1')})`);
    // Serving: the request the engine never read is answered with the same reason.
    const request = `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'version', params: {} })}\n`;
    const answer = await execCapture(old.node, [engine], { env, input: request }).done;
    assert.equal(answer.code, 1, output(answer));
    const reply = JSON.parse(answer.stdout) as { id: number; error: { data: { message: string } } };
    assert.equal(reply.id, 1);
    assert.ok(reply.error.data.message.startsWith(`The kit's schema engine stopped (exit code 2: ${refusal('20.18.1')})`), reply.error.data.message);
  });
});
