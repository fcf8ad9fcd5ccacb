/** Settings read from the environment, validated once, with the variable named in the error. */
import { KitError } from './errors.ts';

/** A duration given in seconds (whole or decimal, >= 0), returned in milliseconds. */
export function secondsFromEnv(name: string, fallbackSeconds: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallbackSeconds * 1000;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new KitError('BAD_USAGE', `${name} must be a number of seconds >= 0, got "${raw}"`);
  return Number(raw) * 1000;
}
