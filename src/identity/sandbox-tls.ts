// The sandbox identity provider's TLS certificate. Microsoft's sign-in library
// accepts only https authorities, so the embedded stack's provider serves https
// with a self-signed certificate for localhost, made once and kept in the data
// folder; the CLI trusts exactly that certificate (never the whole machine's
// trust store turned off).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { webcrypto } from 'node:crypto';

export interface SandboxCertificate {
  cert: string;
  key: string;
}

type X509Module = typeof import('@peculiar/x509');
let x509Loaded: Promise<X509Module> | undefined;

/**
 * @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load
 * without the Reflect metadata API; tsyringe uses only these three calls.
 */
function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<unknown, unknown>>();
  reflect.getOwnMetadata = (key: unknown, target: object) => store.get(target)?.get(key);
  reflect.getMetadata = (key: unknown, target: object) => {
    for (let o: object | null = target; o; o = Object.getPrototypeOf(o)) {
      const own = store.get(o);
      if (own?.has(key)) return own.get(key);
    }
    return undefined;
  };
  reflect.defineMetadata = (key: unknown, value: unknown, target: object) => {
    if (!store.has(target)) store.set(target, new Map());
    store.get(target)!.set(key, value);
  };
}

/** @peculiar/x509 with Node's WebCrypto, loaded once (the sandbox's certificate, the tests' fakes of Microsoft's services). */
export function loadX509(): Promise<X509Module> {
  installReflectMetadata();
  x509Loaded ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return x509Loaded;
}

const YEAR_MS = 365 * 24 * 60 * 60 * 1000;

async function createCertificate(): Promise<SandboxCertificate> {
  const x509 = await loadX509();
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=localhost',
    keys,
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 24 * 60 * 60 * 1000),
    notAfter: new Date(Date.now() + YEAR_MS),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { cert: cert.toString('pem'), key };
}

/** The certificate file the CLI trusts for the sandbox provider. */
export function sandboxCertificatePath(dataDir: string): string {
  return path.join(dataDir, 'identity', 'tls-cert.pem');
}

/** The data folder's certificate, made on first use; the key is readable by its owner only. */
export async function ensureSandboxCertificate(dataDir: string): Promise<SandboxCertificate> {
  const certFile = sandboxCertificatePath(dataDir);
  const keyFile = path.join(dataDir, 'identity', 'tls-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }
  mkdirSync(path.dirname(certFile), { recursive: true, mode: 0o700 });
  const made = await createCertificate();
  writeFileSync(keyFile, made.key, { mode: 0o600 });
  writeFileSync(certFile, made.cert);
  return made;
}
