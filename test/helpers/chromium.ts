// Headless Chromium for the browser tests, from npm (`@sparticuz/chromium`,
// pinned in package.json), so that `npm test` needs no system browser.
// CHROMIUM_PATH chooses another build (Debian's /usr/bin/chromium, say).
//
// The npm build is a headless shell that links only against NSS, NSPR and expat;
// the package carries those libraries too (for Amazon Linux, where it unpacks
// them itself). Elsewhere we unpack them beside the browser and point the
// browser's library path at them, so a machine without them still runs it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { brotliDecompressSync } from 'node:zlib';
import * as tar from 'tar';

export interface ChromiumBuild {
  executablePath: string;
  /** variables for the browser process */
  env: Record<string, string>;
}

async function npmChromium(): Promise<ChromiumBuild> {
  const { default: chromium } = await import('@sparticuz/chromium');
  const executablePath = await chromium.executablePath();
  const packageBin = path.join(path.dirname(require.resolve('@sparticuz/chromium')), '..', '..', 'bin');
  const libs = path.join(os.tmpdir(), 't2t-chromium-libs');
  if (!existsSync(path.join(libs, 'lib', 'libnss3.so'))) {
    mkdirSync(libs, { recursive: true });
    const archive = brotliDecompressSync(readFileSync(path.join(packageBin, 'al2023.tar.br')));
    await pipeline(Readable.from(archive), tar.x({ cwd: libs }));
  }
  const inherited = process.env.LD_LIBRARY_PATH;
  return { executablePath, env: { LD_LIBRARY_PATH: [path.join(libs, 'lib'), ...(inherited ? [inherited] : [])].join(path.delimiter) } };
}

export async function chromiumBuild(): Promise<ChromiumBuild> {
  const chosen = process.env.CHROMIUM_PATH;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`CHROMIUM_PATH names ${chosen}, which does not exist`);
    return { executablePath: chosen, env: {} };
  }
  if (process.platform !== 'linux') throw new Error('the npm Chromium build is for Linux: set CHROMIUM_PATH to a Chromium or Chrome on this machine');
  return npmChromium();
}
