// A record's timeline: GET /records/{entity}/{id}/timeline merges its notes,
// tasks, logged activities and audited changes, newest first. A server
// without it still has the audit log per record (changes only).
import { api, ApiError, enc } from './api';
import type { Rec } from './records';

export interface Item {
  kind: 'note' | 'task' | 'activity' | 'change';
  at: string;
  actor?: string;
  actor_name?: string;
  action?: string;
  record?: Rec & { body?: string; title?: string; due_date?: string; done?: boolean; subject?: string; kind?: string; assignee?: string };
  changes?: Record<string, { from?: unknown; to?: unknown }>;
}

export interface Timeline {
  items: Item[];
  next_before: string | null;
  /** only the audit log: activities are not available on this server */
  changesOnly: boolean;
}

export async function timeline(entity: string, id: string, before?: string | null): Promise<Timeline> {
  try {
    const r = await api.get<{ items: Item[]; next_before: string | null }>(`/records/${enc(entity)}/${enc(id)}/timeline`,
      { before: before ?? undefined, limit: 50 });
    return { ...r, changesOnly: false };
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
    // 404 for a record the person cannot see comes from the record read, not here
  }
  const r = await api.get<{ items: { at: string; actor: string; actor_name?: string; action: string; changes?: Item['changes'] }[]; next_before: string }>(
    '/audit', { entity, record_id: id, before: before ?? undefined, limit: 50 });
  return {
    items: r.items.filter((a) => a.action.startsWith('record.')).map((a) => ({ kind: 'change', at: a.at, actor: a.actor, actor_name: a.actor_name, action: a.action, changes: a.changes })),
    next_before: r.next_before || null,
    changesOnly: true,
  };
}

export type ActivityKind = 'note' | 'task' | 'activity';

export const addActivity = (entity: string, id: string, kind: ActivityKind, values: Record<string, unknown>) =>
  api.post<Rec>(`/records/${enc(entity)}/${enc(id)}/activities/${kind}`, values);
