// The control-plane databases the product runs on: suites that must pass on
// both iterate over these. Each call of `url` gives a new, empty database.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { testPostgres } from './postgres';

export interface ControlPlaneBackend {
  name: 'SQLite' | 'PostgreSQL';
  url(): Promise<string>;
}

export const CONTROL_PLANE_BACKENDS: ControlPlaneBackend[] = [
  { name: 'SQLite', url: async () => path.join(mkdtempSync(path.join(os.tmpdir(), 't2t-cp-')), 'control-plane.sqlite') },
  { name: 'PostgreSQL', url: async () => (await testPostgres()).createDatabase(`t2t_${randomBytes(4).toString('hex')}`) },
];

/**
 * Starts the backend's server before a suite. PostgreSQL comes with `npm install`,
 * so a server that does not start fails the suite rather than skipping it.
 */
export async function startBackend(backend: ControlPlaneBackend): Promise<void> {
  if (backend.name === 'PostgreSQL') await testPostgres();
}
