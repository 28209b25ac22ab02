// Who may call the codec server on its own: an admin signed in at the product's
// issuer, whose token the Web UI forwards (codec.passAccessToken), verified as
// the gateway verifies it: issuer, signature, expiry, and the audience: the
// product API's, or one named in T2T_CODEC_TOKEN_AUDIENCE (the Temporal app's,
// when the Web UI signs in for Temporal's own authorization: one access token
// has one audience).
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../config';
import { createTokenVerifier, TokenRefused } from '../identity/token-verifier';

export class CodecSignInError extends Error {
  override name = 'CodecSignInError';
}

export interface CodecSignIn {
  /** the audiences a token may be for, the product API's first */
  audiences: string[];
  verify(authorization: string | undefined): Promise<unknown>;
}

export function codecSignIn(config: Config): CodecSignIn {
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
  const audiences = [signIn.api, ...config.codecServer.extraAudiences.filter((a) => a !== signIn.api)];
  const verifiers = audiences.map((audience) => createTokenVerifier({ issuers: [signIn.authority], audience, ...(ca ? { ca } : {}) }));
  const wrongAudience = (err: unknown) => err instanceof TokenRefused && err.message.startsWith('the token is not for this API');
  return {
    audiences,
    async verify(authorization) {
      for (const verifier of verifiers) {
        try {
          return await verifier.verify(authorization);
        } catch (err) {
          // Only a token for another audience is worth trying against the next one.
          if (!wrongAudience(err)) throw err;
        }
      }
      throw new TokenRefused(401, `the token is not for this codec server (audience ${audiences.join(' or ')})`);
    },
  };
}
