/**
 * How scripts/docker-entrypoint.sh starts the kit's migrate commands, for every bench row
 * that says "as the entrypoint runs it"; checked against the entrypoint's text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/db.ts';

/** `migrate deploy`: a 1 MiB young generation, lite mode, no start-up snapshot. */
export const DEPLOY_FLAGS = ['--max-semi-space-size=1', '--lite-mode', '--no-node-snapshot'];

/** The node flags the entrypoint gives `migrate <command>`. */
export function migrateFlags(command: string): string[] {
  return command === 'deploy' ? DEPLOY_FLAGS : DEPLOY_FLAGS.slice(0, 2);
}

export function assertEntrypointFlags(): void {
  const text = readFileSync(join(projectRoot, 'scripts', 'docker-entrypoint.sh'), 'utf8');
  const [semiSpace, liteMode, noSnapshot] = DEPLOY_FLAGS;
  if (![`flags=(${semiSpace})`, `LITE_MODE=(${liteMode})`, 'migrate | backup) flags+=("${LITE_MODE[@]}")', `"migrate deploy" ]; then flags+=(${noSnapshot})`].every((line) => text.includes(line))) {
    throw new Error(`scripts/docker-entrypoint.sh no longer runs migrate with ${DEPLOY_FLAGS.join(' ')}: update bench/entrypoint-flags.ts`);
  }
}
