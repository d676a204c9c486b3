// A dashboard's refusals in the person's language. The server words each
// refusal in English and adds params naming what it is about (widget, op,
// field, zone, chart type — dashboards/check.go); here each code and path
// picks a message of our own, filled from those params. A refusal without
// a message here keeps the words errors.ts gives it, or the server's.
import type { FieldError } from './api';
import { message } from './errors';
import { t, label, type MessageKey } from './i18n.svelte';
import { meta } from './meta.svelte';

/** FieldLabel names a field of an entity as the person reads it. */
export type FieldLabel = (entity: string, field: string) => string;

function key(e: FieldError): MessageKey | null {
  // A refusal without params is not one of check.go's (a view-time one
  // of the records service, say): its words are the server's.
  if (!e.params && e.field !== 'name' && e.field !== 'sharing') return null;
  const p = e.params ?? {};
  const at = (tail: string) => e.field === tail || e.field.endsWith('.' + tail);
  switch (e.code) {
    case 'unknown_zone':
      return 'dash.err.unknown_zone';
    case 'unknown_entity':
      return 'dash.err.unknown_entity';
    case 'duplicate':
      return 'dash.err.duplicate';
    case 'unknown_field':
      return p.entity ? 'dash.err.unknown_field' : 'dash.err.filter_field';
    case 'unsupported':
      return p.op ? 'dash.err.count_field' : 'dash.err.list_field';
    case 'range':
      if (at('query.measures')) return p.second ? 'dash.err.one_measure_second' : 'dash.err.one_measure';
      if (at('query.group_by')) return p.max === 0 ? 'dash.err.group_by_none' : p.min === p.max ? 'dash.err.group_by_exact' : 'dash.err.group_by_range';
      return null;
    case 'type':
      if (p.filter) return ('dash.err.filter_' + p.filter) as MessageKey;
      if (e.field.endsWith('.bucket')) return 'dash.err.bucket_type';
      if (p.op) return 'dash.err.number_field';
      if (at('query.group_by.0.field')) return 'dash.err.funnel_select';
      return null;
    case 'required':
      if (p.op) return 'dash.err.measure_field';
      if (at('target')) return 'dash.err.target';
      if (e.field === 'name') return 'dash.err.name';
      return null;
    case 'invalid':
      return at('query.sort') ? 'dash.err.sort' : null;
    case 'forbidden':
      return e.field === 'sharing' ? 'dash.err.share_everyone' : null;
  }
  return null;
}

/** opLabel is a measure's operation as the builder names it. */
export const opLabel = (op: string) => t(('dash.op.' + op) as MessageKey);

/**
 * dashMessage words one refusal. fallback is used when no message of ours
 * fits: the builder passes errors.ts's message, the board the server's
 * own words (which name the field a viewer may no longer see).
 */
export function dashMessage(e: FieldError, fieldLabel: FieldLabel, fallback: (e: FieldError) => string = message): string {
  const p = e.params ?? {};
  const k = key(e);
  if (!k) return fallback(e);
  const entity = typeof p.entity === 'string' ? p.entity : '';
  const ent = meta.entities.find((x) => x.name === entity);
  const words: Record<string, string> = {
    widget: String(p.widget ?? ''),
    zone: String(p.zone ?? ''),
    entity: ent ? label(ent.label, entity) : entity,
    name: typeof p.name === 'string' ? (entity ? fieldLabel(entity, p.name) : p.name) : '',
    op: typeof p.op === 'string' ? opLabel(p.op) : '',
    type: typeof p.type === 'string' ? t(('dash.type.' + p.type) as MessageKey) : '',
    min: String(p.min ?? ''),
    max: String(p.max ?? ''),
    sort: String(p.sort ?? ''),
  };
  const text = t(k, words);
  return p.widget && k !== 'dash.err.duplicate' ? t('dash.err.widget', { widget: words.widget, message: text }) : text;
}
