// A worker run as a separate process for the benchmark: the migration worker
// (`dist/src/worker.js`, as deployed) or the trivial one. Its peak memory is
// the kernel's high-water mark of its resident set (VmHWM).
import { ChildProcess, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

export interface WorkerProcess {
  process: ChildProcess;
  /** peak resident memory in bytes since the process started (Linux), or undefined */
  peakRss(): number | undefined;
  /** resident memory in bytes now (Linux), or undefined */
  rss(): number | undefined;
  stop(): Promise<void>;
}

export function startWorkerProcess(script: string, env: Record<string, string>): WorkerProcess {
  // T2T_BENCH_WORKER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=…") profiles the workers: where their CPU goes.
  const nodeArgs = process.env.T2T_BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  // T2T_BENCH_WORKER_STDOUT keeps what the workers print (e.g. --trace-gc's heap sizes) in that file.
  const stdoutFile = process.env.T2T_BENCH_WORKER_STDOUT;
  const child = spawn(process.execPath, [...nodeArgs, script], {
    env: { PATH: process.env.PATH, T2T_AUTH: process.env.T2T_AUTH ?? 'off', ...env },
    stdio: ['ignore', stdoutFile ? openSync(stdoutFile, 'a') : 'ignore', 'pipe'],
  });
  // The worker's own log would drown the table: keep its tail, and show it only if the worker fails.
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!stopping) console.error(`${script} exited (${code ?? signal}):\n${log}`);
      resolve();
    }),
  );
  return {
    process: child,
    peakRss: () => statusField(child.pid, 'VmHWM'),
    rss: () => statusField(child.pid, 'VmRSS'),
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function statusField(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The trivial workflow bundled beforehand into `dir`, as the migration worker's bundle is built with
 * the project (`npm run build`): neither worker runs webpack at start, so their peaks compare the work.
 */
export async function writeTrivialBundle(dir: string): Promise<string> {
  const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/trivial-workflow'), logger: quiet });
  const file = path.join(dir, 'trivial-workflow-bundle.js');
  writeFileSync(file, code);
  return file;
}

/**
 * The migration worker (`dist/src/worker.js`) as a process of its own, serving a product the benchmark
 * drives (its task queue, control plane and storage), with `env` on top.
 */
export function startMigrationWorkerProcess(
  product: { config: { taskQueue: string; databaseUrl: string } },
  servers: { temporalAddress: string; storageConnectionString: string; dataDir: string },
  env: Record<string, string> = {},
): WorkerProcess {
  return startWorkerProcess(path.join(__dirname, '..', 'src', 'worker.js'), {
    TEMPORAL_ADDRESS: servers.temporalAddress,
    T2T_TASK_QUEUE: product.config.taskQueue,
    T2T_DATABASE_URL: product.config.databaseUrl,
    T2T_DATA_DIR: servers.dataDir,
    AZURE_STORAGE_CONNECTION_STRING: servers.storageConnectionString,
    ...env,
  });
}
