// The product's own processes as a deployment runs them (`node dist/src/…`), each
// with only the environment it is given, its output kept for a failing test to show.
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/temporal-binaries';

export interface ProductProcess {
  name: string;
  child: ChildProcess;
  /** everything it wrote, stdout and stderr together */
  output: string;
}

const running = (p: ProductProcess) => p.child.exitCode === null && p.child.signalCode === null;

/**
 * Spawns `node <script>` (a path under the project, e.g. dist/src/worker.js) and resolves once its output
 * has `ready`; rejects with its output when it exits first or is not ready within `timeoutMs` (then it is killed).
 */
export async function startProductProcess(name: string, script: string, env: NodeJS.ProcessEnv, ready: string, timeoutMs = 120_000): Promise<ProductProcess> {
  const child = spawn(process.execPath, [path.join(projectRoot(), script)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const started: ProductProcess = { name, child, output: '' };
  process.once('exit', () => running(started) && child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} was not ready within ${timeoutMs / 1000} s:\n${started.output.slice(-3000)}`));
    }, timeoutMs);
    const read = (chunk: Buffer) => {
      started.output += chunk.toString();
      if (started.output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? signal} before it was ready:\n${started.output.slice(-3000)}`));
    });
  });
  return started;
}

/** SIGTERM, as a deployment stops it; SIGKILL after `graceMs`. */
export async function stopProductProcess(p: ProductProcess, graceMs = 10_000): Promise<void> {
  if (!running(p)) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
