// A small stand-in for the identity provider as Temporal's authorization meets it, shaped
// like Microsoft Entra ID: its signing keys at /discovery/v2.0/keys (what the server's
// TEMPORAL_JWT_KEY_SOURCE1 names), and client credentials at /oauth2/v2.0/token, where a
// service principal asks for `<audience>/.default` and gets an access token whose `roles`
// claim lists its app roles' values (`default:write`, ...). The sandbox provider
// (src/identity/local-provider.ts) signs admins in over https with a self-signed
// certificate that the Go server would not trust; this one serves plain http on loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export interface Principal {
  clientId: string;
  secret: string;
  /** app role values, as Entra ID lists them in `roles` */
  roles: string[];
}

export interface TokenIssuer {
  keysUrl: string;
  tokenUrl: string;
  audience: string;
  scope: string;
  /** a token for a principal, as the token endpoint would give it; for an hour unless said otherwise */
  mint(principal: Pick<Principal, 'clientId' | 'roles'>, lifetimeSeconds?: number): Promise<string>;
  /** how many tokens the endpoint has given each client */
  issued: Map<string, number>;
  close(): Promise<void>;
}

/** `lifetimeSeconds`: how long the token endpoint's tokens last. */
export async function startTokenIssuer(audience: string, principals: Principal[], lifetimeSeconds = 3600): Promise<TokenIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const issued = new Map<string, number>();
  let issuer = '';
  const mint = (principal: Pick<Principal, 'clientId' | 'roles'>, lifetime = 3600) =>
    new SignJWT({ roles: principal.roles, appid: principal.clientId })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(principal.clientId)
      .setIssuedAt()
      .setExpirationTime(`${lifetime}s`)
      .sign(privateKey);

  const server = http.createServer((req, res) => {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/discovery/v2.0/keys') return answer(200, jwks);
    if (req.method !== 'POST' || req.url !== '/oauth2/v2.0/token') return answer(404, { error: 'not_found' });
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const principal = principals.find((p) => p.clientId === form.get('client_id'));
      if (form.get('grant_type') !== 'client_credentials') return answer(400, { error: 'unsupported_grant_type' });
      if (!principal || principal.secret !== form.get('client_secret')) return answer(401, { error: 'invalid_client', error_description: 'unknown client or wrong secret' });
      if (form.get('scope') !== `${audience}/.default`) return answer(400, { error: 'invalid_scope', error_description: `only ${audience}/.default` });
      mint(principal, lifetimeSeconds).then(
        (token) => {
          issued.set(principal.clientId, (issued.get(principal.clientId) ?? 0) + 1);
          answer(200, { token_type: 'Bearer', expires_in: lifetimeSeconds, access_token: token });
        },
        (err: Error) => answer(500, { error: 'server_error', error_description: err.message }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = `${base}/v2.0`;
  return {
    keysUrl: `${base}/discovery/v2.0/keys`,
    tokenUrl: `${base}/oauth2/v2.0/token`,
    audience,
    scope: `${audience}/.default`,
    mint,
    issued,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
