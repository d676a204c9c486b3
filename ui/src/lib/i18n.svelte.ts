// Messages, the person's language and locale formatting. All text the app
// shows comes from messages/*.ts; zh-CN must have every key of en (the type
// says so, svelte-check enforces it).
import en from '../messages/en';
import zhCN from '../messages/zh-CN';

export type Locale = 'en' | 'zh-CN';
export type MessageKey = keyof typeof en;
export const locales: Locale[] = ['en', 'zh-CN'];

const catalogs: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };
const STORAGE_KEY = 'jimu.locale';

function browserLocale(): Locale {
  for (const l of navigator.languages ?? [navigator.language]) {
    if (l.toLowerCase().startsWith('zh')) return 'zh-CN';
    if (l.toLowerCase().startsWith('en')) return 'en';
  }
  return 'en';
}

function initial(): Locale {
  const saved = localStorage.getItem(STORAGE_KEY);
  return saved === 'en' || saved === 'zh-CN' ? saved : browserLocale();
}

export const i18n = $state({ locale: initial() });
document.documentElement.lang = i18n.locale;

/** setLocale switches the language; '' follows the browser again. */
export function setLocale(l: Locale | '') {
  if (l === '') localStorage.removeItem(STORAGE_KEY);
  else localStorage.setItem(STORAGE_KEY, l);
  i18n.locale = l || browserLocale();
  document.documentElement.lang = i18n.locale;
}

/** t is the message key in the person's language, with {name} filled in. */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  let s = catalogs[i18n.locale][key] ?? en[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

/** A metadata label: a string, or {"en": …, "zh-CN": …}. */
export type Label = string | Partial<Record<string, string>> | null | undefined;

/** label shows the person's locale, then en, then the fallback (a name). */
export function label(l: Label, fallback = ''): string {
  if (typeof l === 'string') return l || fallback;
  if (l && typeof l === 'object') return l[i18n.locale] || l.en || Object.values(l).find(Boolean) || fallback;
  return fallback;
}

export function fmtNumber(n: number, opts?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(i18n.locale, opts).format(n);
}

export function fmtCurrency(n: number, currency?: string): string {
  if (!currency) return fmtNumber(n, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  try {
    return new Intl.NumberFormat(i18n.locale, { style: 'currency', currency }).format(n);
  } catch {
    return fmtNumber(n, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + ' ' + currency;
  }
}

/** fmtDate shows a date-only value ("2026-01-31") without time-zone shifts. */
export function fmtDate(s: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return fmtDateTime(s);
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return new Intl.DateTimeFormat(i18n.locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
}

export function fmtDateTime(s: string): string {
  const d = new Date(s);
  if (isNaN(d.getTime())) return s;
  return new Intl.DateTimeFormat(i18n.locale, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}
