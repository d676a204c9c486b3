// Dashboards as GET /api/v1/dashboards answers them, and widget data.
import { api, enc, type Query } from './api';
import type { Label } from './i18n.svelte';

export interface GroupBy { field: string; bucket?: string }
export interface Measure { op: string; field?: string }
export interface WidgetQuery {
  entity: string;
  filter?: string;
  group_by?: GroupBy[];
  measure?: Measure;
  measures?: Measure[];
  sort?: string;
  limit?: number;
  timezone?: string;
}
export interface Widget {
  id: string;
  type: string;
  title?: Label;
  query: WidgetQuery;
  target?: number;
  cumulative?: boolean;
  colors?: string[];
  layout?: { x: number; y: number; w: number; h: number };
}
export interface DashFilter { type: 'date' | 'owner' | 'select'; field: string; label?: Label; default?: string }
export interface Dashboard {
  id: string;
  version?: number;
  owner?: string;
  name: Label;
  description?: string;
  timezone?: string;
  sharing: 'private' | 'everyone' | { roles: string[] };
  filters?: DashFilter[];
  widgets: Widget[];
}
export interface Row {
  keys: unknown[];
  labels: string[];
  value: number | string | null;
  values?: (number | string | null)[];
  drill: string;
  conversion?: number;
  other?: boolean;
}
export interface PivotKey { key: unknown; label: string; drill: string }
export interface Pivot {
  rows: PivotKey[];
  columns: PivotKey[];
  cells: ({ value: number | string | null; drill: string } | null)[][];
  row_totals?: (number | null)[];
  column_totals?: (number | null)[];
  total?: number | null;
}
export interface WidgetData {
  widget: string;
  type: string;
  entity: string;
  group_by: string[];
  /** each group-by's field type: "user" keys are user ids, shown as names */
  key_types?: string[];
  pivot?: Pivot;
  measures: string[];
  rows: Row[];
  kpi?: { value: number | null; previous?: number | null; change?: number; target?: number; progress?: number };
  drill: string;
  echarts?: Record<string, unknown>;
  as_of: string;
}

export const datePresets = ['this_month', 'last_month', 'this_quarter', 'last_quarter', 'this_year', 'last_year', 'last_7_days', 'last_30_days', 'last_90_days'];

export const listDashboards = () => api.get<{ items: Dashboard[] }>('/dashboards');
export const getDashboard = (id: string) => api.get<Dashboard>(`/dashboards/${enc(id)}`);
// A person may run 8 aggregates at once (more are refused, 429): a board
// of more widgets than that asks for at most four at a time.
const maxAsked = 4;
let asked = 0;
const waiting: (() => void)[] = [];
async function limited<T>(ask: () => Promise<T>): Promise<T> {
  if (asked >= maxAsked) await new Promise<void>((go) => waiting.push(go));
  asked++;
  try {
    return await ask();
  } finally {
    asked--;
    waiting.shift()?.();
  }
}

// board=1: the board asks every widget, so the first request computes
// them together (the others find their answers kept).
export const widgetData = (id: string, wid: string, filters: Query, signal?: AbortSignal) =>
  limited(() => api.get<WidgetData>(`/dashboards/${enc(id)}/widgets/${enc(wid)}/data`, { ...filters, board: '1' }, signal));
export const previewWidget = (d: Omit<Dashboard, 'id'>, wid: string, filters: Query) =>
  limited(() => api.post<WidgetData>('/dashboards/preview', d, { query: { widget: wid, ...filters } }));

/** drillPath is the record list of a row's drill filter. */
export const drillPath = (entity: string, drill: string) => `/e/${enc(entity)}?filter=${enc(drill)}`;
