// Automation rules (admins), their dry runs and previews, the run log,
// retries and manual runs. The server compiles and evaluates every
// condition and value: the app shows what it answers, nothing is
// evaluated here.
import { api, enc } from './api';
import { t, type MessageKey } from './i18n.svelte';

export type TriggerType = 'record.created' | 'record.updated' | 'record.deleted' | 'schedule' | 'date_relative' | 'manual' | 'webhook';
export const triggerTypes: TriggerType[] = ['record.created', 'record.updated', 'record.deleted', 'schedule', 'date_relative', 'manual', 'webhook'];

export interface Trigger {
  type: TriggerType;
  fields?: string[];
  cron?: string;
  timezone?: string;
  field?: string;
  offset?: string;
  at?: string;
  missed?: 'catch_up' | 'skip';
}

/** An action: its type and its settings, the other keys (values are expressions or templates). */
export type Action = { type: string; name?: string } & Record<string, unknown>;

export interface Rule {
  id?: string;
  name: string;
  description?: string;
  entity: string;
  enabled: boolean;
  timezone?: string;
  run_as?: string;
  trigger: Trigger;
  condition?: string;
  actions: Action[];
  version?: number;
  updated_at?: string;
  /** the inbound URL's path, only in the answer that creates or rotates it */
  webhook?: string;
}

export interface Step {
  index: number;
  type: string;
  name?: string;
  status: 'pending' | 'succeeded' | 'failed' | 'skipped';
  input?: unknown;
  output?: unknown;
  error?: string;
  reason?: string;
  started_at?: string;
  duration_ms?: number;
  attempts?: number;
  effects?: string[];
}

export interface Run {
  id: string;
  workflow: string;
  workflow_version: number;
  workflow_name: string;
  trigger: string;
  entity?: string;
  record_id?: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'dead';
  attempt?: number;
  depth?: number;
  note?: string;
  created_at: string;
  finished_at?: string;
  touched?: string[];
  input?: { record?: Record<string, unknown>; old?: Record<string, unknown>; payload?: unknown; user?: string; at?: string };
  condition?: { expression: string; result: boolean; error?: string };
  steps: Step[];
  error?: string;
  reason?: string;
  missed?: string;
  from_step?: number;
}

export interface TestResult {
  matched: boolean;
  condition?: { expression: string; result: boolean; error?: string };
  actions: { index: number; type: string; name?: string; output?: unknown; error?: string }[];
  note: string;
}

export interface Preview {
  from: string;
  until: string;
  times?: string[];
  matching?: Record<string, unknown>[];
  count?: number;
  fires?: { at: string; record_id?: string; record?: Record<string, unknown> }[];
  truncated?: boolean;
}

export interface RetryAnswer {
  run: string;
  from_step: number;
  not_repeated: { index: number; type: string; name?: string; effects?: string[] }[];
  partial?: string[];
  message: string;
}

export interface Checked {
  ok: boolean;
  error?: { message: string; line?: number; column?: number; offset?: number };
}

export const runStatuses = ['queued', 'running', 'succeeded', 'failed', 'skipped', 'dead'] as const;

export const listRules = () => api.get<{ items: Rule[] }>('/meta/workflows');
export const getRule = (id: string) => api.get<Rule>(`/meta/workflows/${enc(id)}`);
export const createRule = (r: Rule) => api.post<Rule>('/meta/workflows', r);
export const saveRule = (r: Rule) => api.put<Rule>(`/meta/workflows/${enc(r.id!)}`, r, { headers: { 'If-Match': String(r.version) } });
export const deleteRule = (id: string) => api.del(`/meta/workflows/${enc(id)}`);
export const actionTypes = () => api.get<{ items: string[] }>('/meta/workflows/actions');
export const checkCondition = (entity: string, trigger: TriggerType, condition: string) =>
  api.post<Checked>('/meta/workflows/check', { entity, trigger: { type: trigger }, condition });
export const matches = (entity: string, condition: string) =>
  api.post<{ count: number | null; capped?: boolean; reason?: string }>('/meta/workflows/matches', { entity, condition });
export const testRule = (id: string, body: { record_id?: string; old?: Record<string, unknown>; payload?: unknown }) =>
  api.post<TestResult>(`/meta/workflows/${enc(id)}/test`, body);
export const testDraft = (rule: Rule, body: { record_id?: string; old?: Record<string, unknown>; payload?: unknown }) =>
  api.post<TestResult>('/meta/workflows/test', { rule, ...body });
export const previewRule = (id: string, days: number) => api.get<Preview>(`/meta/workflows/${enc(id)}/preview`, { days });
export const rotateHook = (id: string) => api.post<{ webhook: string; note: string }>(`/meta/workflows/${enc(id)}/webhook/rotate`);

export interface RunQuery {
  workflow?: string;
  status?: string;
  entity?: string;
  record?: string;
  touched?: string;
  before?: string;
  limit?: number;
}
export const listRuns = (q: RunQuery) => api.get<{ items: Run[]; next_before?: string }>('/workflows/runs', { ...q });
export const getRun = (id: string) => api.get<Run>(`/workflows/runs/${enc(id)}`);
export const retryRun = (id: string) => api.post<RetryAnswer>(`/workflows/runs/${enc(id)}/retry`);
export const manualRules = (entity: string) => api.get<{ items: { id: string; name: string; description?: string; entity: string }[] }>('/workflows/manual', { entity });
export const runManual = (id: string, body: { record_id?: string; filter?: string }) =>
  api.post<{ runs: string[]; count: number }>(`/workflows/${enc(id)}/run`, body);

/** The inbound URLs this tab was shown (on create or rotate): the server shows each only once. */
export const shownHooks: Record<string, string> = {};

/** cleanRule drops empty settings, so an unused one is not sent as "". */
export function cleanRule(r: Rule): Rule {
  const out: Rule = JSON.parse(JSON.stringify(r));
  out.actions = out.actions.map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== '' && v !== undefined && v !== null)) as Action);
  if (!out.condition) delete out.condition;
  if (!out.timezone) delete out.timezone;
  if (!out.run_as) delete out.run_as;
  if (!out.description) delete out.description;
  for (const k of ['cron', 'timezone', 'field', 'offset', 'at', 'missed'] as const) if (!out.trigger[k]) delete out.trigger[k];
  return out;
}

/** actionLabel names an action type in the person's language (a plugin's own type by its id). */
export function actionLabel(type: string): string {
  const k = ('wf.action.' + type) as MessageKey;
  const s = t(k);
  return s === k ? type : s;
}

/** reasonLabel says a failure's class (permanent, depth, wall_time, …) in words; an unknown one as sent. */
export function reasonLabel(reason: string): string {
  const k = ('wf.reason.' + reason) as MessageKey;
  const s = t(k);
  return s === k ? reason : s;
}
