// What the app knows of entities and their fields, for the signed-in
// person. It reads GET /api/v1/entities (the entities the caller may use,
// with their permissions and visible fields); on a server that lacks it,
// an admin falls back to the metadata API and anyone else to the entity's
// published JSON Schema.
import { api, ApiError, enc } from './api';
import type { Label } from './i18n.svelte';
import { session } from './session.svelte';

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

/** Types the store computes: never typed into a form. */
export const computedTypes = new Set(['auto_number', 'formula']);

const all: Permissions = { create: true, read: true, update: true, delete: true };

interface MetaEntity {
  name: string;
  label?: Label;
  label_plural?: Label;
  icon?: string;
  color?: string;
  title_field?: string;
  ownership?: boolean;
  fields: Field[];
}

export function titleField(e: { title_field?: string; fields?: Field[] }): string {
  if (e.title_field) return e.title_field;
  const fs = e.fields ?? [];
  if (fs.some((f) => f.name === 'name')) return 'name';
  return fs.find((f) => f.type === 'text')?.name ?? 'id';
}

function fromMeta(m: MetaEntity): Entity {
  const fields = (m.fields ?? []).filter((f) => !f.deleted);
  return {
    name: m.name,
    label: m.label,
    label_plural: m.label_plural,
    icon: m.icon,
    color: m.color,
    ownership: m.ownership,
    title_field: titleField({ title_field: m.title_field, fields }),
    permissions: all,
    fields: fields.map((f) => ({ ...f, read_only: f.read_only || computedTypes.has(f.type) })),
    related: [],
  };
}

interface SchemaProp {
  type?: string | string[];
  format?: string;
  enum?: string[];
  readOnly?: boolean;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  items?: { enum?: string[] };
}

/** fromSchema reads what a non-admin can know without GET /entities. */
function fromSchema(name: string, s: { title?: string; properties?: Record<string, SchemaProp>; required?: string[] }): Entity {
  const fields: Field[] = Object.entries(s.properties ?? {}).map(([n, p]) => {
    const t = Array.isArray(p.type) ? p.type.find((x) => x !== 'null') : p.type;
    let type = 'text';
    if (p.enum) type = 'select';
    else if (p.items?.enum) type = 'multi_select';
    else if (t === 'array') type = 'tags';
    else if (t === 'boolean') type = 'boolean';
    else if (t === 'integer') type = 'integer';
    else if (t === 'number') type = 'number';
    else if (t === 'object') type = 'json';
    else if (p.format === 'date') type = 'date';
    else if (p.format === 'date-time') type = 'datetime';
    else if (p.format === 'email') type = 'email';
    else if (p.format === 'uri') type = 'url';
    return {
      name: n,
      type,
      required: s.required?.includes(n),
      read_only: p.readOnly,
      options: (p.enum ?? p.items?.enum)?.map((v) => ({ value: v })),
      min: p.minimum,
      max: p.maximum,
      max_length: p.maxLength,
    };
  });
  return { name, label: s.title, permissions: all, fields, related: [], title_field: titleField({ fields }) };
}

export const meta = $state({
  entities: [] as EntitySummary[],
  loaded: false,
  error: '',
});

const cache = new Map<string, Promise<Entity>>();

let personal: boolean | null = null; // does the server have GET /entities?

export async function loadEntities() {
  meta.error = '';
  try {
    const r = await api.get<{ items: EntitySummary[] }>('/entities');
    personal = true;
    meta.entities = r.items;
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) {
      meta.error = e instanceof Error ? e.message : String(e);
      meta.loaded = true;
      return;
    }
    personal = false;
    if (session.user?.admin) {
      const r = await api.get<{ items: MetaEntity[] }>('/meta/entities');
      meta.entities = r.items.map(fromMeta);
    } else {
      // The OpenAPI document lists the entities this caller may use.
      const doc = await api.get<{ components?: { schemas?: Record<string, { title?: string }> } }>('/openapi.json');
      const schemas = doc.components?.schemas ?? {};
      meta.entities = Object.keys(schemas)
        .filter((k) => schemas[k + '_input'])
        .map((k) => ({ name: k, label: schemas[k].title, permissions: all }));
    }
  }
  meta.loaded = true;
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
  if (personal !== false) {
    try {
      const e = await api.get<Entity>(`/entities/${enc(name)}`);
      e.related ??= [];
      e.title_field = titleField(e);
      return e;
    } catch (err) {
      if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405) || personal === true) throw err;
    }
  }
  if (session.user?.admin) return fromMeta(await api.get<MetaEntity>(`/meta/entities/${enc(name)}`));
  return fromSchema(name, await api.get(`/meta/entities/${enc(name)}/schema`));
}

/** forget drops what is known of entities (after the designer changed one). */
export function forget(name?: string) {
  if (name) cache.delete(name);
  else cache.clear();
}
