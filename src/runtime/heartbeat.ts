/**
 * The liveness signals a container's health check reads, in RASTAR_STATE_DIR (the
 * image sets it; outside a container nothing is written): the entrypoint's phase, the
 * heartbeat of the kit command it runs (RASTAR_HEARTBEAT names that file), and the
 * bot's, renewed by its poll loop. A heartbeat file holds the time it was written and
 * the time by which the next one is due, in milliseconds: the writer knows how long its
 * turns last, the health check compares with its own clock.
 */
import { join } from 'node:path';
import { fs } from '../node-builtins.ts';

const { readFileSync, renameSync, writeFileSync } = fs;

/** How often a running kit command renews its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 2000;

export function stateDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.RASTAR_STATE_DIR?.trim() || undefined;
}

/** The bot's heartbeat file, when the bot runs where a health check reads one. */
export function botHeartbeatFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = stateDir(env);
  return dir ? join(dir, 'bot-heartbeat') : undefined;
}

export interface Heartbeat {
  at: number;
  due: number;
}

/** Beat: written now, the next one due within `dueInMs` (whole, by rename). A heartbeat that cannot be written must never stop the work it reports on. */
export function beat(file: string | undefined, dueInMs: number, now = Date.now()): void {
  if (!file) return;
  try {
    writeFileSync(`${file}.tmp`, `${now} ${now + dueInMs}\n`);
    renameSync(`${file}.tmp`, file);
  } catch {
    // a read-only or missing state folder: the health check then says there is no heartbeat
  }
}

/** Renew `file` every HEARTBEAT_INTERVAL_MS while the process runs (the timer never keeps it alive). */
export function keepBeating(file: string | undefined): void {
  if (!file) return;
  beat(file, HEARTBEAT_INTERVAL_MS);
  setInterval(() => beat(file, HEARTBEAT_INTERVAL_MS), HEARTBEAT_INTERVAL_MS).unref();
}

export function readHeartbeat(file: string): Heartbeat | undefined {
  try {
    const [at, due] = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
    return Number.isFinite(at) && Number.isFinite(due) ? { at: at!, due: due! } : undefined;
  } catch {
    return undefined;
  }
}
