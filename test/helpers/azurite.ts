// Starts a real Azurite blob emulator on a free loopback port for a test suite.
import { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAzurite, waitForPort } from '../../src/stack';
import { freePort } from './ports';

export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  port: number;
  connectionString: string;
  dataDir: string;
  process: ChildProcess;
  /** stops the emulator (storage becomes unavailable); its data stays until `dispose` */
  stop(): Promise<void>;
  /** starts it again on the same port with the same data */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startTestAzurite(): Promise<RunningAzurite> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 't2t-azurite-'));
  const endpoint = { host: '127.0.0.1', port };
  const running: RunningAzurite = {
    port,
    dataDir,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};` +
      `BlobEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    process: startAzurite(endpoint, dataDir),
    async stop() {
      const child = running.process;
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A graceful stop: Azurite saves its metadata on SIGTERM (a SIGKILL loses what it had not saved yet).
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async restart() {
      await running.stop();
      running.process = startAzurite(endpoint, dataDir);
      await waitForPort(endpoint, 30_000, running.process);
    },
    async dispose() {
      await running.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  // The emulator runs in its own process group: make sure it dies with the tests.
  process.once('exit', () => running.process.exitCode === null && running.process.kill('SIGKILL'));
  await waitForPort(endpoint, 30_000, running.process);
  return running;
}
