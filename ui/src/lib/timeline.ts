// A record's timeline: GET /records/{entity}/{id}/timeline merges its notes,
// tasks, logged activities and audited changes, newest first.
import { api, enc } from './api';
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
}

export async function timeline(entity: string, id: string, before?: string | null): Promise<Timeline> {
  return api.get<Timeline>(`/records/${enc(entity)}/${enc(id)}/timeline`, { before: before ?? undefined, limit: 50 });
}

export type ActivityKind = 'note' | 'task' | 'activity';

export const addActivity = (entity: string, id: string, kind: ActivityKind, values: Record<string, unknown>) =>
  api.post<Rec>(`/records/${enc(entity)}/${enc(id)}/activities/${kind}`, values);
