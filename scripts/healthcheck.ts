/**
 * The image's HEALTHCHECK: one line saying what the container is doing, exit 0 when
 * healthy (or alive past the start period), 1 when not. Light on purpose: it runs
 * every few seconds beside the app, so it loads no database driver.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { checkHealth } from '../src/runtime/health.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(`The container's health check (the image's HEALTHCHECK runs it).

Usage: healthcheck

Environment:
  RASTAR_STATE_DIR     where the entrypoint writes its phase and heartbeats (the image: /tmp/rastar)
  HEALTH_START_PERIOD  seconds, the HEALTHCHECK's --start-period (default 60): past it, a step still running is "alive"
  PORT                 the admin panel's port (default 3000)

Exit codes:
  0  healthy: the app serves; or alive: a step past the start period, its heartbeat fresh
  1  starting (a step within the start period), or unhealthy (no heartbeat, the app does not answer)
`);
  process.exit(0);
}
const health = await checkHealth();
process.stdout.write(`${health.line}\n`);
process.exit(health.healthy ? 0 : 1);
