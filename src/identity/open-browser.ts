// Opens the sign-in page in the person's browser, with the platform's own
// opener; where none exists the URL is shown to open by hand.
import { spawn } from 'node:child_process';

export async function openBrowser(url: string): Promise<void> {
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  await new Promise<void>((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', () => {
      process.stderr.write(`Open this page in a browser to sign in: ${url}\n`);
      resolve();
    });
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}
