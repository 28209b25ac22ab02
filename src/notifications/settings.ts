// Notification settings read from the environment (src/config.ts calls these):
// when reminders go out, when the escalation contact is told, who that contact
// is. Pure: no I/O, so that the rules can be tested and reused anywhere.
import { formatDuration, parseDuration } from '../duration';

/** An address for notifications: one mailbox, no display name, no list. */
export const EMAIL_ADDRESS = /^[^\s@,;"<>()[\]\\]+@[^\s@,;"<>()[\]\\]+\.[^\s@,;"<>()[\]\\]+$/;

export function isEmailAddress(text: string): boolean {
  return EMAIL_ADDRESS.test(text) && text.length <= 320;
}

/**
 * `T2T_REMINDERS`: how long before a deadline the people who must act are reminded,
 * e.g. `24h,1h`; `none` for no reminders. Returned longest first, without repeats.
 */
export function parseReminderLeads(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === 'none') return [];
  const parts = trimmed.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new Error(`"${text}" must be durations separated by commas, such as 24h,1h (or none)`);
  const leads = parts.map((p) => parseDuration(p));
  const distinct = [...new Set(leads)].sort((a, b) => b - a);
  if (distinct.length !== leads.length) throw new Error(`"${text}" names the same time twice`);
  return distinct;
}

/** The escalation must come after the last reminder and before the deadline: shorter than the last reminder's lead. */
export function checkEscalateAfter(escalateAfterMs: number, leadsMs: readonly number[]): string | undefined {
  if (leadsMs.length === 0) return undefined;
  const last = Math.min(...leadsMs);
  if (escalateAfterMs >= last) {
    return `${formatDuration(escalateAfterMs)} must be shorter than the last reminder (${formatDuration(last)} before the deadline), so that the escalation comes before the deadline`;
  }
  return undefined;
}

export interface EscalationContacts {
  /** the contact of every tenant that has none of its own */
  fallback?: string;
  /** tenant id → contact */
  byTenant: Record<string, string>;
}

/**
 * `T2T_ESCALATION_CONTACT`: an address for every tenant (`ops@contoso.com`), and/or
 * one per tenant (`t-contoso=ops@contoso.com`), separated by commas.
 */
export function parseEscalationContacts(text: string | undefined): EscalationContacts {
  const contacts: EscalationContacts = { byTenant: {} };
  if (text === undefined || text.trim() === '') return contacts;
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const [tenant, address] = eq === -1 ? [undefined, entry] : [entry.slice(0, eq).trim(), entry.slice(eq + 1).trim()];
    if (!isEmailAddress(address)) throw new Error(`"${address}" is not an email address (use ops@contoso.com or t-contoso=ops@contoso.com)`);
    if (tenant === undefined) {
      if (contacts.fallback !== undefined) throw new Error('more than one address for every tenant; name the tenant as t-contoso=ops@contoso.com');
      contacts.fallback = address;
    } else {
      if (tenant === '') throw new Error(`"${entry}" names no tenant before "="`);
      if (contacts.byTenant[tenant] !== undefined) throw new Error(`tenant "${tenant}" is named twice`);
      contacts.byTenant[tenant] = address;
    }
  }
  return contacts;
}

/** `T2T_SMTP_URL`: smtp://[user:password@]host[:port] or smtps://…; undefined when it is not one. */
export function checkSmtpUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a URL such as smtp://mail.contoso.com:587 or smtps://user:password@mail.contoso.com';
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') return 'must start with smtp:// or smtps://';
  if (!url.hostname) return 'must name the mail server';
  return undefined;
}
