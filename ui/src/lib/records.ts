// Records through the API: lists with keyset paging, single records with
// their version for If-Match.
import { api, enc, type Query } from './api';

export type Rec = Record<string, unknown> & { id: string; version: number };

export interface Page {
  items: Rec[];
  next_cursor: string | null;
  count?: number;
  count_capped?: boolean;
}

export interface ListParams {
  filter?: string;
  sort?: string;
  fields?: string[];
  limit?: number;
  cursor?: string | null;
  count?: boolean;
}

export function list(entity: string, p: ListParams, signal?: AbortSignal): Promise<Page> {
  const q: Query = {
    filter: p.filter,
    sort: p.sort,
    fields: p.fields?.length ? p.fields.join(',') : undefined,
    limit: p.limit ?? 50,
    cursor: p.cursor ?? undefined,
    count: p.count ? 'true' : undefined,
  };
  return api.get<Page>(`/records/${enc(entity)}`, q, signal);
}

export const get = (entity: string, id: string) => api.get<Rec>(`/records/${enc(entity)}/${enc(id)}`);

export const create = (entity: string, values: Record<string, unknown>) => api.post<Rec>(`/records/${enc(entity)}`, values);

/** patch changes fields of the version the person saw: a 409 means someone else changed it. */
export const patch = (entity: string, id: string, version: number, values: Record<string, unknown>) =>
  api.patch<Rec>(`/records/${enc(entity)}/${enc(id)}`, values, { headers: { 'If-Match': String(version) } });

export const remove = (entity: string, id: string, version?: number) =>
  api.del(`/records/${enc(entity)}/${enc(id)}`, version ? { headers: { 'If-Match': String(version) } } : {});

export interface BulkResult {
  id: string;
  status: number;
  errors?: { field: string; code: string; message: string }[];
  detail?: string;
}

export const bulk = (entity: string, body: { action: 'update' | 'delete'; ids: string[]; values?: Record<string, unknown> }) =>
  api.post<{ results: BulkResult[] }>(`/records/${enc(entity)}/bulk`, body);
