/**
 * The container's health check: what the entrypoint is doing, and whether the app it
 * started serves. Docker knows one bit (exit 0 healthy, 1 not), so the bit follows what
 * a platform does with it:
 * - the app serves (the panel answers /healthz, the bot's poll loop beats): healthy;
 * - the entrypoint waits, migrates or seeds, its heartbeat fresh: not healthy within
 *   HEALTH_START_PERIOD (a platform routes no traffic to it yet and does not count the
 *   failure), healthy past it ("alive"), so that a long migration is never killed half-way;
 * - a heartbeat that stopped, or an app that does not serve: unhealthy.
 * Every answer is one line that says which, for `docker inspect` and the logs.
 */
import { join } from 'node:path';
import { HEARTBEAT_INTERVAL_MS, readHeartbeat, stateDir, type Heartbeat } from './heartbeat.ts';
import { fs } from '../node-builtins.ts';

const { readFileSync } = fs;

/** A heartbeat this late means its writer hangs (a loaded machine is late by far less). */
export const LATE_MS = 30_000;
export const DEFAULT_START_PERIOD_SECONDS = 60;

export interface Health {
  healthy: boolean;
  line: string;
}

export interface HealthOptions {
  env?: NodeJS.ProcessEnv;
  now?: number;
  /** Asks the panel's /healthz; true when it answers 2xx. */
  ask?: (url: string) => Promise<boolean>;
}

const PHASES: Record<string, string> = {
  database: 'waiting for the database',
  backup: 'backing up before migrating',
  migrating: 'migrating',
  seeding: 'seeding',
  schema: 'waiting until the schema is current',
};

interface Phase {
  phase: string;
  /** When this phase began, and when the entrypoint started (ms). */
  since: number;
  started: number;
  app: string;
}

function readPhase(dir: string): Phase | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, 'phase'), 'utf8');
  } catch {
    return undefined;
  }
  const fields = Object.fromEntries(text.split('\n').map((line) => line.split('=')).filter((pair) => pair.length >= 2).map(([key, ...rest]) => [key, rest.join('=')]));
  const since = Number(fields.since);
  const started = Number(fields.started);
  if (!fields.phase || !Number.isFinite(since) || !Number.isFinite(started)) return undefined;
  return { phase: fields.phase, since, started, app: fields.app ?? '' };
}

/** The later of a heartbeat and the phase's own start (a phase change counts as a beat). */
function lastBeat(file: string, phase: Phase, dueInMs: number): Heartbeat {
  const heard = readHeartbeat(file);
  return heard && heard.at >= phase.since ? heard : { at: phase.since, due: phase.since + dueInMs };
}

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

async function askHttp(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

export async function checkHealth(options: HealthOptions = {}): Promise<Health> {
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now();
  const ask = options.ask ?? askHttp;
  const port = env.PORT?.trim() || '3000';
  const panel = async (): Promise<Health> =>
    (await ask(`http://127.0.0.1:${port}/healthz`))
      ? { healthy: true, line: `healthy: the admin panel answers /healthz on port ${port}` }
      : { healthy: false, line: `unhealthy: the admin panel does not answer /healthz on port ${port}` };

  const dir = stateDir(env);
  const phase = dir ? readPhase(dir) : undefined;
  // Started some other way (no entrypoint phase): the panel's own answer is all there is.
  if (!dir || !phase) return panel();

  if (phase.phase !== 'app') {
    const what = PHASES[phase.phase] ?? phase.phase;
    const last = lastBeat(join(dir, 'kit-heartbeat'), phase, HEARTBEAT_INTERVAL_MS);
    if (now > last.due + LATE_MS) {
      return { healthy: false, line: `unhealthy: ${what}, and no heartbeat for ${seconds(now - last.at)}: the step hangs` };
    }
    const startPeriod = Number(env.HEALTH_START_PERIOD ?? DEFAULT_START_PERIOD_SECONDS);
    const running = now - phase.started;
    if (running < (Number.isFinite(startPeriod) ? startPeriod : DEFAULT_START_PERIOD_SECONDS) * 1000) {
      return { healthy: false, line: `starting: ${what} for ${seconds(now - phase.since)} (alive); the app starts when it is done` };
    }
    return { healthy: true, line: `alive: ${what} for ${seconds(now - phase.since)}, past the start period; the app starts when it is done` };
  }

  if (phase.app === 'admin-panel') return panel();
  if (phase.app === 'telegram-bot') {
    // Until its first turn the bot connects and starts: as long as a kit step may be silent.
    const last = lastBeat(join(dir, 'bot-heartbeat'), phase, HEARTBEAT_INTERVAL_MS);
    return now <= last.due + LATE_MS
      ? { healthy: true, line: `healthy: the telegram bot's poll loop ran ${seconds(now - last.at)} ago` }
      : { healthy: false, line: `unhealthy: the telegram bot's poll loop has not run for ${seconds(now - last.at)}` };
  }
  return { healthy: true, line: `healthy: ${phase.app} runs (it has no health signal of its own)` };
}
