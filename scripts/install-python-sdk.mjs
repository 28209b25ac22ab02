#!/usr/bin/env node
// Installs Temporal's Python SDK (pinned, scripts/python-sdk/requirements.txt) into a
// virtual environment in .python-sdk/, for the test that drives a migration from
// another SDK through the product's payload format (test/python-sdk.test.ts).
// From PyPI with pip, once: a second run finds the environment and downloads nothing.
// Never fails `npm install`: without Python 3 it says so in one line and stops.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.python-sdk');
const requirements = join(root, 'scripts', 'python-sdk', 'requirements.txt');
const stamp = join(venv, 'installed-requirements.txt');
const python = join(venv, 'bin', 'python');
const strict = process.argv.includes('--strict');

function say(line) {
  console.log(`[python-sdk] ${line}`);
}

function fail(line) {
  if (strict) {
    console.error(`[python-sdk] ${line}`);
    process.exit(1);
  }
  say(`${line}; the Python SDK test will say so too`);
  process.exit(0);
}

if (process.env.T2T_SKIP_PYTHON_SDK === '1') {
  say('skipped (T2T_SKIP_PYTHON_SDK=1)');
  process.exit(0);
}
const wanted = readFileSync(requirements, 'utf8');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(python)) {
  say(`up to date in ${venv}`);
  process.exit(0);
}
const system = ['python3', 'python'].find((candidate) => {
  try {
    return /^Python 3\.(9|[1-9]\d)/.test(execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim());
  } catch {
    return false;
  }
});
if (!system) fail('no Python 3.9 or newer on PATH: not installed');
try {
  if (!existsSync(python)) execFileSync(system, ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--index-url', 'https://pypi.org/simple', '-r', requirements], { stdio: 'inherit' });
  writeFileSync(stamp, wanted);
  say(`installed into ${venv}`);
} catch (err) {
  rmSync(stamp, { force: true });
  fail(`pip could not install ${requirements}: ${err.message.split('\n')[0]}`);
}
