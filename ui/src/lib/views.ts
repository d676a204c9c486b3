// A saved view, as GET /api/v1/views answers it.
import type { Label } from './i18n.svelte';

export interface View {
  id: string;
  version?: number;
  owner?: string;
  entity: string;
  name: Label;
  kind: 'list' | 'kanban';
  columns?: string[];
  sort?: string;
  filter?: string;
  group_by?: string;
  shared_with?: { roles: string[] } | null;
}
