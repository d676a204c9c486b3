// People by name through GET /api/v1/people, which everyone signed in may
// ask: the names of the user ids the app shows (owner, created_by, user
// fields, assignees), asked for together — every id a page shows at once
// goes in one request of up to 100 — and kept for the page's life; and the
// search behind the user pickers.
import { api } from './api';
import { session } from './session.svelte';

export interface Person { id: string; name: string; email?: string }

// id → name; '' for an id that names no user (the id itself is shown).
const names = $state<Record<string, string>>({});
const asked = new Set<string>();
let queue: string[] = [];

function ask() {
  const ids = queue;
  queue = [];
  for (let i = 0; i < ids.length; i += 100) {
    const batch = ids.slice(i, i + 100);
    api.get<{ items: Person[] }>('/people', { ids: batch.join(','), limit: 100 }).then((r) => {
      for (const p of r.items) names[p.id] = p.name || p.email || p.id;
      for (const id of batch) names[id] ??= '';
    }, () => {
      for (const id of batch) asked.delete(id); // asked again when next shown
    });
  }
}

/** personName is the user's name, or '' until it is known (or when id names no user). */
export function personName(id: unknown): string {
  if (typeof id !== 'string' || !id) return '';
  if (id === session.user?.id) return session.user.name || session.user.email;
  if (!asked.has(id)) {
    asked.add(id);
    // every id read while a page renders, in one request
    if (queue.push(id) === 1) queueMicrotask(ask);
  }
  return names[id] ?? '';
}

/** namesOf resolves once the names of ids are known (those asked already
 * included), for what cannot follow a name as it arrives: a chart drawn once. */
export async function namesOf(ids: string[]): Promise<void> {
  const want = [...new Set(ids.filter((id) => typeof id === 'string' && id && names[id] === undefined && id !== session.user?.id))];
  for (let i = 0; i < want.length; i += 100) {
    const batch = want.slice(i, i + 100);
    for (const id of batch) asked.add(id);
    try {
      const r = await api.get<{ items: Person[] }>('/people', { ids: batch.join(','), limit: 100 });
      for (const p of r.items) names[p.id] = p.name || p.email || p.id;
      for (const id of batch) names[id] ??= '';
    } catch {
      for (const id of batch) asked.delete(id);
    }
  }
}

/** personShown is what a user id shows as: the name; the id once it is known to name no one. */
export function personShown(id: unknown): string {
  const n = personName(id);
  if (n || typeof id !== 'string') return n;
  return names[id] === '' ? id : '';
}

/** rememberPerson keeps a name the app already has (a person just picked). */
export function rememberPerson(p: Person) {
  asked.add(p.id);
  names[p.id] = p.name || p.email || p.id;
}

/** searchPeople: active users whose name (for admins, e-mail too) contains q, by name. */
export async function searchPeople(q: string, limit = 10): Promise<Person[]> {
  const r = await api.get<{ items: Person[] }>('/people', { q: q.trim(), limit });
  for (const p of r.items) rememberPerson(p);
  return r.items;
}
