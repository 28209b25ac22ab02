// The workflow code as one bundle, built with the project (`npm run build`
// writes it beside the compiled code), as Temporal advises for production: a
// worker that finds it up to date loads it instead of running webpack at start,
// which costs seconds and about 60 MB of the worker's peak memory. A bundle
// older than any compiled file is not used: the worker then bundles at start.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type Logger } from '@temporalio/worker';

export const WORKFLOW_BUNDLE_PATH = path.join(__dirname, 'workflows.bundle.js');
const COMPILED_ROOT = __dirname;

/** The bundle's path when it is newer than every compiled file of the project, else undefined. */
export function upToDateWorkflowBundle(bundlePath = WORKFLOW_BUNDLE_PATH, compiledRoot = COMPILED_ROOT): string | undefined {
  let bundleTime: number;
  try {
    bundleTime = statSync(bundlePath).mtimeMs;
  } catch {
    return undefined;
  }
  const newer = (dir: string): boolean =>
    readdirSync(dir, { withFileTypes: true }).some((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return newer(full);
      return entry.name.endsWith('.js') && full !== bundlePath && statSync(full).mtimeMs > bundleTime;
    });
  return newer(compiledRoot) ? undefined : bundlePath;
}

export async function writeWorkflowBundle(logger?: Logger, bundlePath = WORKFLOW_BUNDLE_PATH): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), ...(logger ? { logger } : {}) });
  writeFileSync(bundlePath, code);
}

if (require.main === module) {
  const quiet: Logger = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: (m) => console.warn(m), error: (m) => console.error(m) };
  writeWorkflowBundle(quiet).catch((err: unknown) => {
    console.error(`could not bundle the workflow code: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
