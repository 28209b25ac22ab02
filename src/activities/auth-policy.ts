// The sign-in policy a workflow enforces, from the worker's configuration (never from a
// workflow's input: anyone can start a workflow with any input): whether actions must carry
// the gateway's proof, and the gateway's published keys to check them against. A local
// activity, so the answer is recorded in history and a replay sees the same keys.
import { readFile } from 'node:fs/promises';
import type { SignInSettings } from '../config';
import type { PublishedKey } from '../identity/action-proof';

export interface AuthPolicy {
  /** T2T_AUTH=on: starts and actions count only with the gateway's valid proof */
  enforced: boolean;
  keys: PublishedKey[];
  /** why the keys could not be read (the gateway unreachable, a bad keys file); the keys are then empty */
  keysUnavailable?: string;
}

/** Keys read within this long are used again: a migration's start or a burst of actions costs no request each. */
const KEYS_CACHE_MS = 30_000;
const GATEWAY_TIMEOUT_MS = 5_000;

export type AuthSettings = Pick<SignInSettings, 'auth' | 'gatewayUrl' | 'gatewayPublicKeysFile'>;

export function createAuthPolicyActivities(settings: AuthSettings) {
  let cached: { keys: PublishedKey[]; at: number } | undefined;
  return {
    /** `refresh`: a proof names a key not known yet (the gateway rotated its key): read the keys again, not the cache. */
    async authPolicy(request: { refresh?: boolean } = {}): Promise<AuthPolicy> {
      if (settings.auth !== 'on') return { enforced: false, keys: [] };
      if (!request.refresh && cached && Date.now() - cached.at < KEYS_CACHE_MS) return { enforced: true, keys: cached.keys };
      try {
        const keys = await readKeys(settings);
        cached = { keys, at: Date.now() };
        return { enforced: true, keys };
      } catch (err) {
        // Not thrown: an unreachable gateway refuses the proofs it would have vouched for, with this reason, and holds nothing up.
        return { enforced: true, keys: [], keysUnavailable: (err as Error).message };
      }
    },
  };
}

async function readKeys(settings: AuthSettings): Promise<PublishedKey[]> {
  if (settings.gatewayPublicKeysFile) {
    const text = await readFile(settings.gatewayPublicKeysFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`the gateway's keys file ${settings.gatewayPublicKeysFile} cannot be read (${err.code ?? err.message})`);
    });
    return publishedKeys(text, `the gateway's keys file ${settings.gatewayPublicKeysFile}`);
  }
  const url = `${settings.gatewayUrl}/v1/keys`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(GATEWAY_TIMEOUT_MS) });
  } catch (err) {
    throw new Error(`the gateway's keys at ${url} cannot be read (${(err as Error).message})`);
  }
  if (!res.ok) throw new Error(`the gateway's keys at ${url} cannot be read (status ${res.status})`);
  return publishedKeys(await res.text(), `the gateway's keys at ${url}`);
}

/** `{ keys: [{ kid, x }] }`, as GET /v1/keys answers; anything else is said in one line. */
function publishedKeys(text: string, where: string): PublishedKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not valid JSON`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof (k as PublishedKey)?.kid === 'string' && typeof (k as PublishedKey)?.x === 'string')) {
    throw new Error(`${where}: expected { "keys": [{ "kid": …, "x": … }] }`);
  }
  return keys.map((k: PublishedKey) => ({ kid: k.kid, x: k.x }));
}
