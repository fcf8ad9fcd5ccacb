/**
 * The Node.js check every script makes before anything else: on a version package.json
 * `engines` does not admit, one line naming the required version, exit 2 (npm only warns,
 * and the kit would fail later, further from the cause). Each script imports this module
 * first, so it is evaluated before any other module of the kit; it imports nothing of the
 * kit itself.
 */
// As process.getBuiltinModule gives it (see node-builtins.ts); Node.js before 20.16 has
// no such function, and this module must still run there to say which version is needed.
const { readFileSync } = process.getBuiltinModule?.('node:fs') ?? (await import('node:fs'));

type Version = [number, number, number];

function parseVersion(text: string): Version | undefined {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(text.trim());
  return match ? [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)] : undefined;
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * Whether `version` satisfies `range`: alternatives joined by `||`, each `>=x.y.z` or
 * `^x.y.z` (the forms the kit's `engines` uses). An unreadable alternative admits nothing.
 */
export function satisfies(version: string, range: string): boolean {
  const have = parseVersion(version);
  if (!have) return false;
  return range.split('||').some((alternative) => {
    const match = /^\s*(>=|\^)\s*(\S+)\s*$/.exec(alternative);
    const want = match ? parseVersion(match[2] as string) : undefined;
    if (!match || !want) return false;
    if (compare(have, want) < 0) return false;
    return match[1] === '>=' || have[0] === want[0];
  });
}

/** package.json `engines.node`: beside src/ in a checkout, beside dist/ in the image. */
export function requiredNode(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; engines?: { node?: string } };
      if (manifest.name === 'rastar-database-kit' && manifest.engines?.node) return manifest.engines.node;
    } catch {
      // not this one
    }
  }
  throw new Error('package.json with engines.node not found beside the kit');
}

const required = requiredNode();
if (!satisfies(process.versions.node, required)) {
  process.stderr.write(`Error: Node.js ${process.versions.node} is not supported: the rastar kit needs Node.js ${required} (package.json "engines")\n`);
  process.exit(2);
}
