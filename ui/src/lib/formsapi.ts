// Forms: layouts of an entity's fields with conditional rules, and the
// server's evaluation of those rules (there is no second implementation
// here: the app asks POST /forms/{id}/evaluate, or for the builder's
// unsaved draft POST /meta/form-preview, and shows what the server says).
import { api, enc } from './api';
import type { Label } from './i18n.svelte';
import type { Rec } from './records';

export interface OptionRule {
  when: string;
  options: string[];
}

export interface FormField {
  field: string;
  column?: number;
  label?: Label;
  help_text?: Label;
  placeholder?: Label;
  required?: boolean;
  read_only?: boolean;
  default?: unknown;
  default_expr?: string;
  show_when?: string;
  require_when?: string;
  read_only_when?: string;
  options_when?: OptionRule[];
}

export interface Section {
  label?: Label;
  columns?: number;
  fields: FormField[];
}

export interface Publication {
  slug: string;
  defaults?: Record<string, unknown>;
  success_message?: Label;
  redirect_url?: string;
  allowed_origins?: string[];
  challenge?: string;
  min_fill_seconds?: number;
}

export interface Form {
  id?: string;
  name: string;
  entity: string;
  label?: Label;
  description?: Label;
  submit_label?: Label;
  sections: Section[];
  publish?: Publication | null;
  version?: number;
}

export interface Evaluation {
  visible: string[];
  required: string[];
  read_only: string[];
  options: Record<string, string[]>;
  defaults?: Record<string, unknown>;
  errors: { field: string; code: string; message: string }[];
}

export interface Embed {
  url: string;
  iframe: string;
  html: string;
}

export const formsOf = (entity: string) =>
  api.get<{ items: Form[]; chosen?: { new: string; record: string } }>('/forms', { entity });
export const usableForm = (id: string) => api.get<Form>(`/forms/${enc(id)}`);
export const designForms = (entity: string) => api.get<{ items: Form[] }>('/meta/forms', { entity });
export const getForm = (id: string) => api.get<Form>(`/meta/forms/${enc(id)}`);
export const createForm = (f: Form) => api.post<Form>('/meta/forms', f);
export const saveForm = (f: Form) => api.put<Form>(`/meta/forms/${enc(f.id!)}`, f, { headers: { 'If-Match': String(f.version) } });
export const deleteForm = (id: string) => api.del(`/meta/forms/${enc(id)}`);
export const publishForm = (id: string, p: Publication, version: number) =>
  api.post<Form>(`/meta/forms/${enc(id)}/publish`, p, { headers: { 'If-Match': String(version) } });
export const unpublishForm = (id: string) => api.del<Form>(`/meta/forms/${enc(id)}/publish`);
export const embedOf = (id: string) => api.get<Embed>(`/meta/forms/${enc(id)}/embed`);
export const chooseForms = (entity: string, c: { new: string; record: string }) => api.put(`/meta/form-choices/${enc(entity)}`, c);
export const evaluate = (id: string, values: Record<string, unknown>, recordId?: string) =>
  api.post<Evaluation>(`/forms/${enc(id)}/evaluate`, { values, ...(recordId ? { record_id: recordId } : {}) });
export const preview = (form: Form, values: Record<string, unknown>) => api.post<Evaluation>('/meta/form-preview', { form, values });
export const submit = (id: string, values: Record<string, unknown>) => api.post<Rec>(`/forms/${enc(id)}/submit`, values);
export const resubmit = (id: string, recordId: string, values: Record<string, unknown>, version: number) =>
  api.patch<Rec>(`/forms/${enc(id)}/submit/${enc(recordId)}`, values, { headers: { 'If-Match': String(version) } });
