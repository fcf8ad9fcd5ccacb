/**
 * The schema engine executable for the official `prisma` CLI (bin/schema-engine runs
 * it; prisma.config.ts points PRISMA_SCHEMA_ENGINE_BINARY there). Thin: arguments,
 * then the protocol of src/authoring/cli-engine.ts.
 */
import '../src/node-version.ts'; // first: a supported Node.js, or one line and exit 2
import { loadDotenv } from '../src/cli.ts';
import { errorLog, parseEngineArgs, runOneShot, serve, versionLine } from '../src/authoring/cli-engine.ts';

loadDotenv();
try {
  const args = parseEngineArgs(process.argv.slice(2));
  if (args.version) {
    process.stdout.write(`${await versionLine()}\n`);
  } else if (args.oneShot !== undefined) {
    await runOneShot(args, args.oneShot);
  } else {
    await serve(args, process.stdin, (line) => process.stdout.write(line));
  }
  process.exit(0);
} catch (error) {
  // The CLI drops the first stderr line and reads the others as JSON logs.
  process.stderr.write(`rastar schema engine failed\n${errorLog(error)}\n`);
  process.exit(1);
}
