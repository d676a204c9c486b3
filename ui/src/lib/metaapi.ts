// The metadata API (admins): entities and their fields as stored.
import { api, enc } from './api';
import type { Field } from './meta.svelte';
import type { Label } from './i18n.svelte';

export interface Rule { name: string; expression: string; message: string; field?: string }
export interface Index { fields: string[]; unique?: boolean }

export interface MetaEntity {
  name: string;
  label?: Label;
  label_plural?: Label;
  description?: string;
  ownership?: boolean;
  icon?: string;
  color?: string;
  title_field?: string;
  fields: Field[];
  rules?: Rule[] | null;
  indexes?: Index[] | null;
  version: number;
}

export const icons = ['briefcase', 'user', 'users', 'building', 'phone', 'file', 'check-square', 'star', 'tag', 'mail', 'calendar', 'note'];

export const listEntities = () => api.get<{ items: MetaEntity[] }>('/meta/entities');
export const getEntity = (name: string) => api.get<MetaEntity>(`/meta/entities/${enc(name)}`);
export const createEntity = (e: Partial<MetaEntity>) => api.post<MetaEntity>('/meta/entities', e);
export const deleteEntity = (name: string) => api.del(`/meta/entities/${enc(name)}`);
export const fieldTypes = () => api.get<{ items: { name: string; kind: string; read_only: boolean }[] }>('/meta/field-types');

/** replaceEntity PUTs the entity's document (its fields as they are), at the version read. */
export function replaceEntity(e: MetaEntity, changes: Partial<MetaEntity>) {
  const doc: Record<string, unknown> = {
    name: e.name,
    label: e.label,
    label_plural: e.label_plural || undefined,
    description: e.description || undefined,
    ownership: e.ownership,
    fields: e.fields,
    rules: (e.rules ?? []).map((r) => ({ name: r.name, expression: r.expression, message: r.message, field: r.field || undefined })),
    indexes: e.indexes ?? [],
    version: e.version,
    ...changes,
  };
  for (const k of ['icon', 'color', 'title_field'] as const) {
    const v = k in changes ? changes[k] : e[k];
    if (v) doc[k] = v;
    else delete doc[k];
  }
  return api.put<MetaEntity>(`/meta/entities/${enc(e.name)}`, doc, { headers: { 'If-Match': String(e.version) } });
}

export const addField = (entity: string, f: Partial<Field>) => api.post<Field>(`/meta/entities/${enc(entity)}/fields`, f);
export const patchField = (entity: string, name: string, p: Record<string, unknown>) =>
  api.patch<Field>(`/meta/entities/${enc(entity)}/fields/${enc(name)}`, p);
export const deleteField = (entity: string, name: string) => api.del(`/meta/entities/${enc(entity)}/fields/${enc(name)}`);

/** Plan is what a change would do, worked out by the server and applied nowhere (?dry_run=true). */
export interface Plan {
  conversions: { field: string; from: string; to: string; records: number }[];
  holding?: Record<string, number>;
}
/** planPatchField: the records a field change would convert, or the 422 listing those it would refuse. */
export const planPatchField = (entity: string, name: string, p: Record<string, unknown>) =>
  api.patch<Plan>(`/meta/entities/${enc(entity)}/fields/${enc(name)}`, p, { query: { dry_run: true } });
/** planDeleteField: how many records hold a value of the field (what a purge takes away). */
export const planDeleteField = (entity: string, name: string) =>
  api.del<Plan>(`/meta/entities/${enc(entity)}/fields/${enc(name)}`, { query: { dry_run: true } });
export const purgeField = (entity: string, name: string) => api.post(`/meta/entities/${enc(entity)}/fields/${enc(name)}/purge`);
