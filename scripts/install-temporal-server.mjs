#!/usr/bin/env node
// Builds the open-source Temporal server as a cluster runs it, for
// `npm run test:cluster`: `temporal-server` (cmd/server) and its SQL schema tool
// `temporal-sql-tool` (cmd/tools/sql), pinned, from the module
// go.temporal.io/server that the Go module proxy serves, into .tools/bin; and the
// same module's PostgreSQL schema files into .tools/temporal-schema (the layout of
// the admin-tools image's /etc/temporal/schema, for deploy/temporal/setup-schema.sh).
//
// Why not at `npm install`, like the CLI and the test server
// (scripts/install-temporal-binaries.mjs)? Temporal publishes no registry package
// with the server binary, so it is built from source, and that needs the Go
// toolchain, which is not among the README's prerequisites; it also downloads
// some 300 MB of modules and compiles for about five minutes on two cores.
// `npm install && npm test` must work without Go and stay quick, so only
// `npm run test:cluster` runs this. A second run finds the pinned version in
// .tools and does nothing.
//
// The module asks for Go 1.26.10 or newer. Any Go from 1.21 on follows
// GOTOOLCHAIN: the pinned toolchain below comes from the same module proxy (and
// is checked against the Go checksum database, as every module is). The build
// flags are those of the server's own Makefile (CGO off, disable_grpc_modules).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE = 'go.temporal.io/server';
const VERSION = 'v1.32.2';
// `go mod download -json` prints it as Sum; the go.sum line of this version.
const MODULE_SUM = 'h1:X2LlGNAXOrdCYSwBxO7cvZgHAN2m8frhcsNcoeezK/4=';
const TOOLCHAIN = 'go1.27.3';
const BUILD_TAGS = 'disable_grpc_modules';
const PROGRAMS = [
  { pkg: './cmd/server', file: 'temporal-server' },
  { pkg: './cmd/tools/sql', file: 'temporal-sql-tool' },
];
// Only what deploy/temporal/setup-schema.sh reads: PostgreSQL 12+ persistence and visibility.
const SCHEMA = join('schema', 'postgresql', 'v12');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsDir = join(root, '.tools');
const binDir = join(toolsDir, 'bin');
const schemaDir = join(toolsDir, 'temporal-schema');
const marker = join(toolsDir, 'temporal-server.version');
const pinned = `${MODULE}@${VERSION} ${TOOLCHAIN} ${BUILD_TAGS}`;

const log = (message) => console.log(`[temporal-server] ${message}`);
function fail(message) {
  console.error(`[temporal-server] ${message}`);
  process.exit(1);
}

const installed =
  existsSync(marker) &&
  readFileSync(marker, 'utf8').trim() === pinned &&
  PROGRAMS.every((p) => existsSync(join(binDir, p.file))) &&
  existsSync(join(schemaDir, 'postgresql', 'v12', 'temporal', 'versioned'));
if (installed) {
  log(`${PROGRAMS.map((p) => p.file).join(' and ')} ${VERSION} already installed`);
  process.exit(0);
}

const go = process.env.GO || 'go';
const env = {
  ...process.env,
  GOTOOLCHAIN: TOOLCHAIN,
  GOWORK: 'off',
  GOFLAGS: '-mod=readonly',
  CGO_ENABLED: '0',
};
let installedGo;
try {
  installedGo = execFileSync(go, ['env', 'GOVERSION'], { env: { ...process.env, GOTOOLCHAIN: 'local' }, encoding: 'utf8' }).trim();
} catch (err) {
  fail(
    err.code === 'ENOENT'
      ? `Go is needed to build the Temporal server for npm run test:cluster (any Go from 1.21 on; it fetches ${TOOLCHAIN} by itself): https://go.dev/doc/install, or set GO to its path`
      : `\`${go} env GOVERSION\` failed: ${err.message}`,
  );
}
const [major, minor] = /^go(\d+)\.(\d+)/.exec(installedGo)?.slice(1).map(Number) ?? [0, 0];
if (major < 1 || (major === 1 && minor < 21)) fail(`${installedGo} cannot fetch ${TOOLCHAIN} by itself: install Go 1.21 or newer`);

const started = Date.now();
const scratch = mkdtempSync(join(os.tmpdir(), 't2t-temporal-server-'));
try {
  log(`fetching ${MODULE}@${VERSION} from the Go module proxy (toolchain ${TOOLCHAIN}; the local Go is ${installedGo})`);
  const info = JSON.parse(
    execFileSync(go, ['mod', 'download', '-json', `${MODULE}@${VERSION}`], { cwd: scratch, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  if (info.Error) fail(`go mod download: ${info.Error}`);
  if (info.Sum !== MODULE_SUM) fail(`${MODULE}@${VERSION}: checksum ${info.Sum} does not match the pinned ${MODULE_SUM}`);
  const moduleDir = info.Dir;

  log(`building ${PROGRAMS.map((p) => p.file).join(' and ')} (a few minutes the first time)`);
  const out = join(scratch, 'bin');
  mkdirSync(out);
  for (const program of PROGRAMS) {
    execFileSync(go, ['build', '-trimpath', '-tags', BUILD_TAGS, '-o', join(out, program.file), program.pkg], {
      cwd: moduleDir,
      env,
      stdio: 'inherit',
    });
  }
  for (const program of PROGRAMS) {
    const version = execFileSync(join(out, program.file), ['--version'], { encoding: 'utf8' }).trim();
    if (!version.endsWith(VERSION.slice(1))) fail(`${program.file} --version says "${version}", not ${VERSION}`);
  }

  // Everything is ready: put it in place, the version marker last.
  rmSync(marker, { force: true });
  mkdirSync(binDir, { recursive: true });
  for (const program of PROGRAMS) {
    chmodSync(join(out, program.file), 0o755);
    renameOrCopy(join(out, program.file), join(binDir, program.file));
  }
  rmSync(schemaDir, { recursive: true, force: true });
  copyTree(join(moduleDir, SCHEMA), join(schemaDir, 'postgresql', 'v12'));
  writeFileSync(marker, `${pinned}\n`);
  log(`installed ${PROGRAMS.map((p) => p.file).join(' and ')} ${VERSION} and the PostgreSQL schemas in ${Math.round((Date.now() - started) / 1000)} s`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// The module cache is read-only: copy files, not modes, so that .tools can be deleted
// (and not the Go files that embed the schemas in the server).
function copyTree(from, to) {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (statSync(source).isDirectory()) copyTree(source, join(to, name));
    else if (!name.endsWith('.go')) writeFileSync(join(to, name), readFileSync(source));
  }
}

// The temporary folder may be on another file system than the project.
function renameOrCopy(from, to) {
  try {
    renameSync(from, to);
  } catch (err) {
    if (err.code !== 'EXDEV') throw err;
    copyFileSync(from, `${to}.tmp`);
    chmodSync(`${to}.tmp`, 0o755);
    renameSync(`${to}.tmp`, to);
  }
}
