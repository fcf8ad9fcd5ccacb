/**
 * Node's built-in modules whose ESM import is costly, as `require` gives them, for every
 * module a container runs. An `import … from 'node:fs'` builds the module's whole
 * namespace, and reading each export runs the lazy getters (fs.promises and its streams;
 * util's diff, colours and MIME types): on Node 26 that is 1.2 MiB for node:fs, 0.7 for
 * node:util and 0.3 for node:child_process of a command's peak memory.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const fs: typeof import('node:fs') = require('node:fs');
export const util: typeof import('node:util') = require('node:util');
export const childProcess: typeof import('node:child_process') = require('node:child_process');
