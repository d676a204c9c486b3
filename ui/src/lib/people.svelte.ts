// The people an admin can pick from (GET /api/v1/users, admins only), read
// once per page load; others type a user id.
import { api } from './api';
import { session } from './session.svelte';

export interface Person { id: string; name: string; email: string; active: boolean }

export const people = $state({ list: [] as Person[], loaded: false });
let loading: Promise<void> | null = null;

export function loadPeople(): Promise<void> {
  if (!session.user?.admin) return Promise.resolve();
  loading ??= api.get<{ items: Person[] }>('/users').then((r) => {
    people.list = r.items;
    people.loaded = true;
  }, () => {
    loading = null;
  });
  return loading;
}

export function personName(id: unknown): string {
  if (typeof id !== 'string') return '';
  if (id === session.user?.id) return session.user.name || session.user.email;
  const p = people.list.find((x) => x.id === id);
  return p ? p.name || p.email : '';
}
