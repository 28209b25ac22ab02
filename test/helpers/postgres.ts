// A throw-away PostgreSQL cluster for the tests, from Debian's server binaries:
// its own folder, a free loopback port, stopped after the run. T2T_TEST_POSTGRES_URL
// points the tests at an existing server instead.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface RunningPostgres {
  url: string;
  /** a new, empty database on the server */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

function serverBinaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = path.join(root, version, 'bin');
    if (existsSync(path.join(bin, 'initdb'))) return bin;
  }
  throw new Error("PostgreSQL's server is needed for these tests: install Debian's postgresql package (.ci/run does), or set T2T_TEST_POSTGRES_URL");
}

let shared: Promise<RunningPostgres> | undefined;

export function testPostgres(): Promise<RunningPostgres> {
  shared ??= start();
  return shared;
}

async function start(): Promise<RunningPostgres> {
  const existing = process.env.T2T_TEST_POSTGRES_URL;
  if (existing) return withDatabases(existing, async () => undefined);
  const bin = serverBinaries();
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  // PostgreSQL refuses to run as root: run it as the postgres system user then.
  const asServer = (command: string, args: string[]) => {
    if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, command), ...args], { stdio: 'ignore' });
    else execFileSync(path.join(bin, command), args, { stdio: 'ignore' });
  };
  if (process.getuid?.() === 0) {
    const { uid, gid } = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
    chownSync(dir, uid, gid);
  }
  asServer('initdb', ['-D', data, '-U', 't2t', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  asServer('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const stopServer = async () => {
    try {
      asServer('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once('exit', () => {
    try {
      asServer('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
    } catch {
      // already stopped
    }
  });
  return withDatabases(`postgres://t2t@127.0.0.1:${port}/postgres`, stopServer);
}

async function withDatabases(url: string, stop: () => Promise<void>): Promise<RunningPostgres> {
  const { Client } = await import('pg');
  return {
    url,
    async createDatabase(name: string) {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      const u = new URL(url);
      u.pathname = `/${name}`;
      return u.toString();
    },
    stop,
  };
}

export async function stopTestPostgres(): Promise<void> {
  if (!shared) return;
  const running = await shared;
  shared = undefined;
  await running.stop();
}
