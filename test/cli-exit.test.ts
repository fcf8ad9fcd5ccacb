/**
 * A command leaves only once stdout took everything: a `--json` report larger than a
 * pipe holds, read by a consumer slower than the command, arrives whole (process.exit
 * drops what stdout still buffers).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../src/db.ts';
import { writeMigration } from './fixtures/kit.ts';
import { childEnv, copyPrismaDir, scriptArgs } from './helpers.ts';

test('a --json report of over 1 MB, read only once the command is done writing, arrives whole', async (t) => {
  // Migrations that drop columns: each a finding with its statement, its reason and the safe way.
  const prisma = copyPrismaDir(t);
  const drops = Array.from({ length: 5 }, (_, i) => `ALTER TABLE "Thing" DROP COLUMN "c${i}";`).join('\n');
  const names = Array.from({ length: 300 }, (_, i) => `20300101${String(i).padStart(6, '0')}_drops`);
  for (const name of names) for (const provider of ['postgresql', 'sqlite'] as const) writeMigration(prisma, provider, name, `${drops}\n`);
  const child = spawn(process.execPath, ['--require', join(projectRoot, 'test', 'fixtures', 'exit-probe.cjs'), ...scriptArgs('lint-migrations'), '--all', '--json'], {
    env: childEnv({ PRISMA_DIR: prisma }),
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  child.stdout!.pause(); // the slow reader: nothing read until the command has written all it will
  const chunks: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  const probe = child.stdio[3] as NodeJS.ReadableStream;
  // The command's first word on fd 3: "flush" (it waits for stdout) or "exit" (it leaves now).
  const first = await new Promise<string>((done) => probe.once('data', (chunk: Buffer) => done(String(chunk).split('\n')[0] ?? '')));
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stdout!.resume();
  const code = await new Promise<number | null>((done) => child.on('close', done));
  assert.equal(code, 1, `error-level findings: exit 1\n${Buffer.concat(stderr).toString()}`);
  const stdout = Buffer.concat(chunks).toString();
  t.diagnostic(`the command's first word on fd 3: ${first}`);
  assert.ok(stdout.length > 1_000_000, `the whole report, over 1 MB: ${stdout.length} bytes arrived`);
  const report = JSON.parse(stdout) as { findings: { migration: string }[] };
  assert.equal(report.findings.filter((f) => names.includes(f.migration)).length, names.length * 5 * 2, 'every finding in the report');
});
