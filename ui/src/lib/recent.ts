// The records this browser opened last, for the home page.
const KEY = 'jimu.recent';
export interface Recent { entity: string; id: string; title: string; at: string }

export function recent(user: string): Recent[] {
  try {
    return JSON.parse(localStorage.getItem(KEY + '.' + user) || '[]');
  } catch {
    return [];
  }
}

export function remember(user: string, r: Omit<Recent, 'at'>) {
  const list = recent(user).filter((x) => !(x.entity === r.entity && x.id === r.id));
  list.unshift({ ...r, at: new Date().toISOString() });
  localStorage.setItem(KEY + '.' + user, JSON.stringify(list.slice(0, 12)));
}
