/**
 * Backups before migrating, and restores by hand. PostgreSQL: pg_dump's custom
 * format (pg_restore reads it); SQLite: the online backup API, consistent
 * while the app keeps writing. Named after the last applied migration and the
 * time, so a file says which schema it holds.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot, type DatabaseTarget } from '../db.ts';
import { KitError, errorMessage } from '../errors.ts';

const run = promisify(execFile);

export function backupDir(): string {
  return resolve(projectRoot, process.env.BACKUP_DIR || 'backups');
}

/** The folder must exist (or be creatable) and be writable: checked before anything is migrated. */
export function assertWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.write-test-${process.pid}`);
    copyFileSync(join(projectRoot, 'package.json'), probe); // root ignores mode bits: really try
    rmSync(probe);
  } catch (error) {
    throw new KitError('IO', `BACKUP_DIR ${dir} is not writable: ${errorMessage(error)}`, { hint: 'Point BACKUP_DIR at a writable folder (a mounted volume in containers).' });
  }
}

function stamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function pgEnv(target: DatabaseTarget & { provider: 'postgresql' }): NodeJS.ProcessEnv {
  const { host, port, user, password, database, ssl } = target.config;
  return { ...process.env, PGHOST: host, PGPORT: String(port), PGUSER: user, PGPASSWORD: password, PGDATABASE: database, PGSSLMODE: ssl ? 'require' : 'prefer', PGAPPNAME: 'rastar-backup' };
}

/** Write a backup of the whole database; returns its path. `label`: the last applied migration. */
export async function backupDatabase(target: DatabaseTarget, dir: string, label: string): Promise<string> {
  assertWritableDir(dir);
  const name = `${label}_${stamp()}`;
  if (target.provider === 'sqlite') {
    const file = join(dir, `${name}.db`);
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(target.file, { readonly: true, fileMustExist: true });
    try {
      await db.backup(`${file}.partial`);
    } finally {
      db.close();
    }
    renameSync(`${file}.partial`, file); // a backup file either is complete or does not exist
    return file;
  }
  const file = join(dir, `${name}.dump`);
  try {
    await run('pg_dump', ['--format=custom', '--no-owner', '--file', `${file}.partial`, ...(target.schema !== 'public' ? ['--schema', target.schema] : [])], { env: pgEnv(target) });
  } catch (error) {
    rmSync(`${file}.partial`, { force: true });
    throw pgToolError('pg_dump', error, target);
  }
  renameSync(`${file}.partial`, file);
  return file;
}

/** Put a backup back: the database becomes exactly what the file holds. */
export async function restoreDatabase(target: DatabaseTarget, file: string): Promise<void> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new KitError('BAD_USAGE', `No backup file at ${file}`);
  if (target.provider === 'sqlite') {
    if (!file.endsWith('.db')) throw new KitError('BAD_USAGE', `${basename(file)} is not a SQLite backup (.db)`);
    for (const suffix of ['-journal', '-wal', '-shm']) rmSync(target.file + suffix, { force: true });
    copyFileSync(file, `${target.file}.restoring`);
    renameSync(`${target.file}.restoring`, target.file);
    return;
  }
  if (!file.endsWith('.dump')) throw new KitError('BAD_USAGE', `${basename(file)} is not a PostgreSQL backup (.dump, pg_dump custom format)`);
  try {
    await run('pg_restore', ['--clean', '--if-exists', '--no-owner', '--single-transaction', '--exit-on-error', '--dbname', target.config.database, file], { env: pgEnv(target) });
  } catch (error) {
    throw pgToolError('pg_restore', error, target);
  }
}

function pgToolError(tool: string, error: unknown, target: DatabaseTarget & { provider: 'postgresql' }): KitError {
  if ((error as { code?: string }).code === 'ENOENT') {
    return new KitError('IO', `${tool} is not installed, and backups were asked for`, { hint: 'Install the PostgreSQL client of the server\'s major version (Debian: postgresql-client), or set BACKUP_BEFORE_MIGRATE=false.' });
  }
  const stderr = String((error as { stderr?: string }).stderr ?? errorMessage(error)).trim().split('\n')[0] ?? '';
  const mismatch = /server version mismatch|aborting because of server version/.test(stderr);
  return new KitError('IO', `${tool} failed: ${stderr.split(target.config.password || '\u0000').join('***')}`, {
    hint: mismatch ? `Install the client of the server's major version (postgresql-client-<major>): ${tool} must be at least as new as the server.` : undefined,
  });
}
