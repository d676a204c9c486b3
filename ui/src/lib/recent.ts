// The records a person opened lately, kept by the server
// (GET/POST /api/v1/recent) so the list follows them to other devices and
// leaves out what they may no longer read.
import { api } from './api';

export interface Recent { entity: string; id: string; title: string; at: string }

export async function recent(): Promise<Recent[]> {
  return (await api.get<{ items: Recent[] }>('/recent')).items;
}

/** remember notes that the record page of entity/id opened; a failure only costs the home page an entry. */
export function remember(entity: string, id: string) {
  api.post('/recent', { entity, id }).catch(() => {});
}
