// What the app knows of entities and their fields, for the signed-in
// person: GET /api/v1/entities (the entities the caller may use, with
// their permissions) and GET /api/v1/entities/{entity} (its fields as the
// caller sees them, hidden ones absent, and the lookups pointing here).
import { api, enc } from './api';
import { t, type Label, type MessageKey } from './i18n.svelte';

export interface Option {
  value: string;
  label?: Label;
  color?: string;
  order?: number;
}

export interface Field {
  name: string;
  type: string;
  label?: Label;
  help_text?: Label;
  section?: string;
  required?: boolean;
  read_only?: boolean;
  unique?: boolean;
  indexed?: boolean;
  options?: Option[];
  target?: string;
  format?: string;
  formula?: string;
  default?: unknown;
  default_expr?: string;
  min?: number;
  max?: number;
  max_length?: number;
  pattern?: string;
  currency?: string;
  region?: string;
  deleted?: boolean;
}

export interface Permissions {
  create: boolean;
  read: boolean;
  update: boolean;
  delete: boolean;
  /** assign_owner: may set and change the records' owner */
  assign_owner?: boolean;
}

export interface EntitySummary {
  name: string;
  label?: Label;
  label_plural?: Label;
  icon?: string;
  color?: string;
  title_field?: string;
  ownership?: boolean;
  permissions: Permissions;
}

export interface Entity extends EntitySummary {
  fields: Field[];
  related: { entity: string; field: string }[];
}

/** System fields every record carries. */
export const systemFields: Field[] = [
  { name: 'id', type: 'text', read_only: true },
  { name: 'owner', type: 'user', read_only: true },
  { name: 'created_at', type: 'datetime', read_only: true },
  { name: 'updated_at', type: 'datetime', read_only: true },
  { name: 'created_by', type: 'user', read_only: true },
  { name: 'updated_by', type: 'user', read_only: true },
  { name: 'version', type: 'integer', read_only: true },
];

/** shownSystemFields are the system fields labelled in the person's language. */
export function shownSystemFields(): Field[] {
  return systemFields.map((s) => ({ ...s, label: t(('sys.' + s.name) as MessageKey) }));
}

/** ownerField is the owner as a field the person may set (when their role lets them). */
export function ownerField(e: EntitySummary): Field {
  return { name: 'owner', type: 'user', label: t('sys.owner'), read_only: !e.permissions.assign_owner };
}

/** Types the store computes: never typed into a form. */
export const computedTypes = new Set(['auto_number', 'formula']);

export const meta = $state({
  entities: [] as EntitySummary[],
  loaded: false,
  error: '',
});

/** titleField names a record: the entity's title_field, else name, else its first text field. */
export function titleField(e: { title_field?: string; fields?: Field[] }): string {
  if (e.title_field) return e.title_field;
  const fs = e.fields ?? [];
  if (fs.some((f) => f.name === 'name')) return 'name';
  return fs.find((f) => f.type === 'text')?.name ?? 'id';
}

const cache = new Map<string, Promise<Entity>>();

export async function loadEntities() {
  meta.error = '';
  try {
    meta.entities = (await api.get<{ items: EntitySummary[] }>('/entities')).items;
  } catch (e) {
    meta.error = e instanceof Error ? e.message : String(e);
  } finally {
    meta.loaded = true;
  }
}

export function entity(name: string): Promise<Entity> {
  let p = cache.get(name);
  if (!p) {
    p = fetchEntity(name);
    p.catch(() => cache.delete(name));
    cache.set(name, p);
  }
  return p;
}

async function fetchEntity(name: string): Promise<Entity> {
  const e = await api.get<Entity>(`/entities/${enc(name)}`);
  e.related ??= [];
  e.title_field = titleField(e);
  for (const f of e.fields) f.read_only ||= computedTypes.has(f.type);
  return e;
}

/** forget drops what is known of entities (after the designer changed one). */
export function forget(name?: string) {
  if (name) cache.delete(name);
  else cache.clear();
}
