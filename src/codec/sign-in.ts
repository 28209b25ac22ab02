// Who may call the codec server on its own: an admin signed in at the product's
// issuer, whose token the Web UI forwards (codec.passAccessToken), verified as
// the gateway verifies it: issuer, audience (the product API), signature, expiry.
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../config';
import { createTokenVerifier, type TokenVerifier } from '../identity/token-verifier';

export class CodecSignInError extends Error {
  override name = 'CodecSignInError';
}

export function codecSignIn(config: Config): TokenVerifier {
  const { signIn } = config;
  let ca: string | undefined;
  if (signIn.sandbox) {
    // The embedded stack's provider signs with a certificate of its own data folder.
    if (!existsSync(signIn.sandboxCertificateFile)) {
      throw new CodecSignInError(
        `sign-in: tokens would come from the embedded stack's own provider (${signIn.authority}), whose certificate ${signIn.sandboxCertificateFile} is not here: ` +
          "set T2T_AUTH_AUTHORITY to your tenant's issuer (docs/identity.md), or T2T_CODEC_SIGN_IN=off for a codec server only this machine reaches",
      );
    }
    ca = readFileSync(signIn.sandboxCertificateFile, 'utf8');
  }
  return createTokenVerifier({ issuers: [signIn.authority], audience: signIn.api, ...(ca ? { ca } : {}) });
}
