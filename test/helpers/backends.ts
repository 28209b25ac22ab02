// The control-plane databases the product runs on: suites that must pass on
// both iterate over these. Each call of `url` gives a new, empty database.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { testPostgres, PostgresUnavailable } from './postgres';

export interface ControlPlaneBackend {
  name: 'SQLite' | 'PostgreSQL';
  url(): Promise<string>;
}

export const CONTROL_PLANE_BACKENDS: ControlPlaneBackend[] = [
  { name: 'SQLite', url: async () => path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-cp-')), 'control-plane.sqlite') },
  { name: 'PostgreSQL', url: async () => (await testPostgres()).createDatabase(`t2t_${randomBytes(4).toString('hex')}`) },
];

/** Skips the suite, saying why, when this machine has no PostgreSQL to start. */
export async function skipUnlessAvailable(backend: ControlPlaneBackend, context: Mocha.Context): Promise<void> {
  if (backend.name !== 'PostgreSQL') return;
  try {
    await testPostgres();
  } catch (err) {
    if (!(err instanceof PostgresUnavailable)) throw err;
    console.log(`      (skipped: PostgreSQL is not available: ${err.message})`);
    context.skip();
  }
}
