// Titles of linked records (lookup values), read once each through the API
// and shared by every place that shows them.
import { entity as loadEntity } from './meta.svelte';
import { get } from './records';

export const titles = $state<Record<string, string>>({});
const asked = new Set<string>();

/** title is the linked record's title, or '' until it is known. */
export function title(target: string, id: string): string {
  const k = target + '/' + id;
  if (!asked.has(k)) {
    asked.add(k);
    Promise.all([loadEntity(target), get(target, id)]).then(([e, r]) => {
      titles[k] = String(r[e.title_field ?? 'id'] ?? id);
    }, () => {
      titles[k] = id; // not readable (or gone): the id is all there is
    });
  }
  return titles[k] ?? '';
}

export function remember(target: string, id: string, t: string) {
  asked.add(target + '/' + id);
  titles[target + '/' + id] = t;
}
