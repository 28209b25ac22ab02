// Opens the sign-in page in the person's browser with the platform's own opener,
// and shows the page's address as well: an opener can start and still find no
// browser (xdg-open on a server), and then the person opens it by hand. The
// redirect comes back to a listener on this machine's loopback, so the page must
// be opened here; elsewhere the device code (`t2t login`) is the way.
import { spawn } from 'node:child_process';

/** Windows' opener is rundll32's URL handler: `cmd /c start` would cut the address at its first '&'. */
export function browserOpener(url: string, platform: NodeJS.Platform = process.platform): [string, string[]] {
  if (platform === 'darwin') return ['open', [url]];
  if (platform === 'win32') return ['rundll32', ['url.dll,FileProtocolHandler', url]];
  return ['xdg-open', [url]];
}

export async function openBrowser(url: string, say: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<void> {
  const [command, args] = browserOpener(url);
  const started = await new Promise<boolean>((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
  say(
    started
      ? `Sign in in the browser that opened; if none did, open this page in a browser on this machine: ${url}`
      : `No browser opener (${command}) here: open this page in a browser on this machine to sign in, or press Ctrl-C and use \`t2t login\` for a device code: ${url}`,
  );
}
