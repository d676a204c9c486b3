// API errors in the person's language: each errors[].code maps to a
// message naming the field; an unknown code shows the server's message.
import { ApiError, type FieldError } from './api';
import { t, type MessageKey } from './i18n.svelte';

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
};

/** message is one error in words; rule errors keep the admin's own message. */
export function message(e: FieldError): string {
  if (e.code === 'rule') return e.message;
  if (e.field === 'current_password' && e.code === 'invalid') return t('err.wrong_password');
  if ((e.field === 'code' || e.field === 'recovery_code') && e.code === 'invalid') return t('err.wrong_code');
  const k = codes[e.code];
  if (!k) return e.message;
  return t(k, { detail: e.message });
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
      return t('err.conflict');
    case 429:
      return t('err.429', { seconds: err.retryAfter || 1 });
  }
  if (err.status >= 500) return t('err.500');
  if (err.errors.length) return err.errors.map(message).join(' · ');
  return err.problem.detail || err.problem.title || String(err.status);
}
