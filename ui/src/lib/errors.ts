// API errors in the person's language: each errors[].code maps to a
// message naming the field, its params ({"min": 12}) filled in; an
// unknown code shows the server's message.
import { ApiError, type FieldError } from './api';
import { t, fmtNumber, label, type MessageKey } from './i18n.svelte';
import { meta } from './meta.svelte';

const codes: Record<string, MessageKey> = {
  required: 'err.required',
  type: 'err.type',
  enum: 'err.enum',
  minimum: 'err.minimum',
  maximum: 'err.maximum',
  exclusiveMinimum: 'err.minimum',
  exclusiveMaximum: 'err.maximum',
  max_length: 'err.max_length',
  maxLength: 'err.max_length',
  minLength: 'err.required',
  format: 'err.format',
  pattern: 'err.pattern',
  unique: 'err.unique',
  unknown_field: 'err.unknown_field',
  read_only: 'err.read_only',
  immutable: 'err.read_only',
  out_of_range: 'err.out_of_range',
  lookup: 'err.lookup',
  invalid: 'err.invalid',
  invalid_filter: 'err.invalid_filter',
  expression: 'err.expression',
  conflict: 'err.conflict',
  conversion: 'err.conversion',
  unknown_role: 'err.unknown_role',
  unknown_team: 'err.unknown_team',
  unknown_user: 'err.unknown_user',
  unknown_entity: 'err.unknown_entity',
  duplicates: 'err.duplicates',
  cycle: 'err.cycle',
  too_short: 'err.too_short',
  too_long: 'err.too_long',
  invalid_chars: 'err.invalid_chars',
  forbidden: 'err.forbidden',
  unchanged: 'err.unchanged',
  in_past: 'err.in_past',
  too_far: 'err.too_far',
  has_records: 'err.has_records',
  referenced: 'err.referenced',
};

// A code that means something more precise on one field ("code field").
const onField: Record<string, MessageKey> = {
  'invalid current_password': 'err.wrong_password',
  'invalid code': 'err.wrong_code',
  'invalid recovery_code': 'err.wrong_code',
  'format email': 'err.format_email',
  'forbidden roles': 'err.forbidden_own_admin',
  'forbidden password': 'err.forbidden_own_password',
  'forbidden scope.roles': 'err.forbidden_role',
};

// The params each message needs: without them the plain one is shown.
const needs: Partial<Record<MessageKey, [string, MessageKey]>> = {
  'err.too_short': ['min', 'err.invalid'],
  'err.too_long': ['max', 'err.too_long_plain'],
  'err.too_far': ['max_days', 'err.invalid'],
  'err.referenced': ['entity', 'err.invalid'],
};

/** words makes params fit for a message: numbers per locale, entities by label. */
function words(params: Record<string, unknown> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === 'number') out[k] = fmtNumber(v);
    else if (k === 'entity' && typeof v === 'string') {
      const e = meta.entities.find((x) => x.name === v);
      out[k] = e ? label(e.label, v) : v;
    } else out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}

/** message is one error in words; rule errors keep the admin's own message. */
export function message(e: FieldError): string {
  if (e.code === 'rule') return e.message;
  let k = onField[e.code + ' ' + e.field] ?? codes[e.code];
  if (!k) return e.message;
  const need = needs[k];
  if (need && e.params?.[need[0]] === undefined) k = need[1];
  return t(k, { detail: e.message, ...words(e.params) });
}

/** byField groups an error's field errors: {"amount": "must be at least 0", "": "…"}. */
export function byField(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(err instanceof ApiError)) {
    out[''] = err instanceof Error ? err.message : String(err);
    return out;
  }
  for (const e of err.errors) {
    const f = e.field || '';
    out[f] = out[f] ? out[f] + ' · ' + message(e) : message(e);
  }
  if (err.errors.length === 0) out[''] = general(err);
  return out;
}

/** general is an error that names no field, in words. */
export function general(err: unknown): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  switch (err.status) {
    case 0:
      return t('err.network');
    case 401:
      return t('err.401');
    case 403:
      return t('err.403');
    case 404:
      return t('err.404');
    case 409:
      // a refusal that says why (has_records, referenced), else a version conflict
      return err.errors.length ? err.errors.map(message).join(' · ') : t('err.conflict');
    case 429:
      return t('err.429', { seconds: err.retryAfter || 1 });
  }
  if (err.status >= 500) return t('err.500');
  if (err.errors.length) return err.errors.map(message).join(' · ');
  return err.problem.detail || err.problem.title || String(err.status);
}
