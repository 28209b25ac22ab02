// Finds the Temporal CLI (dev server + Web UI) and the time-skipping test server
// without touching the network: an explicit variable first, then the copy the
// project's install step put in .tools/bin, then PATH. Only when none is found
// do callers fall back to the SDK's own download (for users with internet).
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

export type TemporalBinary = 'temporal' | 'temporal-test-server';

const VARIABLE: Record<TemporalBinary, string> = {
  temporal: 'TEMPORAL_CLI_PATH',
  'temporal-test-server': 'TEMPORAL_TEST_SERVER_PATH',
};

export function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function resolveTemporalBinary(name: TemporalBinary, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[VARIABLE[name]];
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`${VARIABLE[name]}: ${explicit} is not an executable file`);
    return explicit;
  }
  const local = path.join(projectRoot(), '.tools', 'bin', name);
  if (isExecutable(local)) return local;
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The `executable` option of @temporalio/testing: an existing path, or the SDK's download as the last resort. */
export function testingExecutable(name: TemporalBinary): { type: 'existing-path'; path: string } | { type: 'cached-download' } {
  const found = resolveTemporalBinary(name);
  return found ? { type: 'existing-path', path: found } : { type: 'cached-download' };
}
