/**
 * Node's built-in modules whose ESM import is costly, as `process.getBuiltinModule`
 * gives them, for every module a container runs. An `import … from 'node:fs'` builds the
 * module's whole namespace, and reading each export runs the lazy getters (fs.promises
 * and its streams; util's diff, colours and MIME types): on Node 26 that is 1.2 MiB for
 * node:fs and 0.7 for node:util of a command's peak memory. `createRequire` would load
 * node:module and its source maps for nothing. Modules only some commands use (node:os,
 * node:child_process) are asked for where they are used, the same way.
 */
export const fs = process.getBuiltinModule('node:fs');
export const util = process.getBuiltinModule('node:util');
