// A person at a browser, for the browser sign-in test: given the sign-in page's
// address (as the platform's opener is), headless Chromium opens it, a world user
// signs in at the sandbox provider's login form, and the page lands where the
// provider sends it (msal's loopback listener). What it saw goes to a report file
// as JSON, for the test to read: the opener runs detached from `t2t login`.
//
//   node browser-opener.js --as <upn> [--cancel] --report <file> <url>
// (--cancel: the person names themself, then presses Cancel instead of Sign in)
import { renameSync, writeFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { chromiumBuild } from './chromium';

export interface OpenerReport {
  /** the address the opener was given */
  opened: string;
  /** where the browser was when the sign-in had ended */
  landed?: string;
  /** that page's text */
  text?: string;
  error?: string;
}

function argument(args: string[], name: string): string {
  const i = args.indexOf(name);
  if (i < 0 || !args[i + 1]) throw new Error(`browser-opener: ${name} is required`);
  return args[i + 1];
}

async function signIn(url: string, upn: string, cancel: boolean): Promise<Pick<OpenerReport, 'landed' | 'text'>> {
  const build = await chromiumBuild();
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: build.executablePath,
      env: { ...process.env, ...build.env },
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    // The sandbox provider's certificate is its own, self-signed: a person accepts it once.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.setDefaultTimeout(120_000);
    await page.goto(url);
    await page.fill('input[name="login"]', upn);
    await Promise.all([page.waitForURL(/^http:\/\/(localhost|127\.0\.0\.1):\d+\//), page.click(cancel ? 'button[name="cancel"]' : 'button[type="submit"]:not([name])')]);
    await page.waitForLoadState('load');
    return { landed: page.url(), text: (await page.textContent('body'))?.trim() ?? '' };
  } finally {
    await browser?.close();
  }
}

/** Whole or not at all: the test may read the report while it is written. */
function record(file: string, report: OpenerReport): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(report));
  renameSync(`${file}.tmp`, file);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const report = argument(args, '--report');
  const opened = args[args.length - 1];
  // Written first: the test reads the address even when the browser fails.
  record(report, { opened });
  const giveUp = setTimeout(() => {
    record(report, { opened, error: 'the sign-in did not end' });
    process.exit(1);
  }, 240_000);
  signIn(opened, argument(args, '--as'), args.includes('--cancel')).then(
    (seen) => {
      record(report, { opened, ...seen });
      clearTimeout(giveUp);
    },
    (err: unknown) => {
      record(report, { opened, error: (err as Error).message });
      process.exit(1);
    },
  );
}
