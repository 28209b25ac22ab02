// The signed-in admin's token cache: one file, readable and writable by its owner
// only (mode 600 in a 700 folder), written whole through a temporary file so a
// crash never leaves half a cache. Microsoft's library serialises the contents.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ICachePlugin, TokenCacheContext } from '@azure/msal-node';

export class TokenCacheError extends Error {
  override name = 'TokenCacheError';
}

/** Refuses a cache file others can read: a token there is as good as a password. */
function checkPrivate(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new TokenCacheError(`the token cache ${file} can be read by others (mode ${mode.toString(8)}): delete it and sign in again (t2t login)`);
}

export function fileCachePlugin(file: string): ICachePlugin {
  return {
    beforeCacheAccess: async (context: TokenCacheContext) => {
      if (!existsSync(file)) return;
      checkPrivate(file);
      context.tokenCache.deserialize(readFileSync(file, 'utf8'));
    },
    afterCacheAccess: async (context: TokenCacheContext) => {
      if (!context.cacheHasChanged) return;
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, context.tokenCache.serialize(), { mode: 0o600 });
      chmodSync(temporary, 0o600);
      renameSync(temporary, file);
    },
  };
}

export function removeTokenCache(file: string): boolean {
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}
