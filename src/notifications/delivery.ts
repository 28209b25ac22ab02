// Sending one notification: a webhook POST of the CloudEvent (structured mode,
// signed with HMAC-SHA256), or an email over SMTP with nodemailer. One attempt
// per call; Temporal's retry policy makes the attempts (src/workflows/notification-delivery.ts).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { CLOUDEVENTS_CONTENT_TYPE, NOTIFICATION_NOT_CONFIGURED, NOTIFICATION_REFUSED, emailFor, type CloudEvent } from './events';

/** The headers a webhook receiver checks (docs/operations.md). */
export const SIGNATURE_HEADER = 'x-t2t-signature';
export const TIMESTAMP_HEADER = 'x-t2t-timestamp';

export class PermanentDeliveryError extends Error {
  constructor(
    message: string,
    readonly type: typeof NOTIFICATION_REFUSED | typeof NOTIFICATION_NOT_CONFIGURED,
  ) {
    super(message);
    this.name = type;
  }
}

/** `v1=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`: the timestamp lets a receiver refuse replays. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does: true when the signature is the secret's and the timestamp within the tolerance. */
export function verifyWebhookSignature(
  secret: string,
  headers: { signature?: string; timestamp?: string },
  body: string,
  options: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp || !/^\d+$/.test(timestamp)) return false;
  const age = Math.abs((options.now ?? Date.now()) / 1000 - Number(timestamp));
  if (age > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const WEBHOOK_TIMEOUT_MS = 10_000;

/** POSTs the CloudEvent; resolves on 2xx, throws otherwise (PermanentDeliveryError when retrying cannot help). */
export async function postWebhook(url: string, secret: string | null, body: string): Promise<void> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    'content-type': CLOUDEVENTS_CONTENT_TYPE,
    'user-agent': 't2t-notifications',
    [TIMESTAMP_HEADER]: timestamp,
  };
  if (secret) headers[SIGNATURE_HEADER] = webhookSignature(secret, timestamp, body);
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new Error(`webhook ${describeUrl(url)}: ${cause?.code ?? (err as Error).message}`);
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.ok) return;
  const message = `webhook ${describeUrl(url)} answered ${response.status}`;
  const permanent = response.status >= 300 && response.status < 500 && response.status !== 408 && response.status !== 429;
  if (permanent) throw new PermanentDeliveryError(message, NOTIFICATION_REFUSED);
  throw new Error(message);
}

/** A Message-ID stable across attempts, so that mail systems can drop a copy a retry sent again. */
export function messageIdFor(eventId: string, subscriptionId: string): string {
  return `<${createHash('sha256').update(`${eventId}\u0000${subscriptionId}`).digest('hex').slice(0, 40)}@t2t.notifications>`;
}

/** Sends the event as an email; throws PermanentDeliveryError for a refusal retrying cannot help. */
export async function sendEmail(
  options: { smtpUrl?: string; from: string },
  to: string,
  event: CloudEvent,
  ids: { eventId: string; subscriptionId: string },
): Promise<void> {
  if (!options.smtpUrl) throw new PermanentDeliveryError('no mail server is configured (T2T_SMTP_URL)', NOTIFICATION_NOT_CONFIGURED);
  const { subject, text } = emailFor(event);
  const transport = createTransport(smtpOptions(options.smtpUrl));
  try {
    await transport.sendMail({
      from: options.from,
      to,
      subject,
      text,
      messageId: messageIdFor(ids.eventId, ids.subscriptionId),
      headers: { 'X-T2T-Event-Id': ids.eventId, 'X-T2T-Event-Type': event.type },
    });
  } catch (err) {
    const code = (err as { responseCode?: number }).responseCode;
    const message = `email to ${to}: ${(err as Error).message.split('\n')[0]}`;
    if (code !== undefined && code >= 500) throw new PermanentDeliveryError(message, NOTIFICATION_REFUSED);
    throw new Error(message);
  } finally {
    transport.close();
  }
}

/** smtp://[user:password@]host[:port] (STARTTLS when the server offers it) or smtps:// (TLS from the start). */
function smtpOptions(smtpUrl: string) {
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  };
}

/** A webhook URL as printed: without its query, which may carry a token. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
