// Users, teams, roles, the audit log and access explanations (admins).
import { api, enc, type Query } from './api';

export interface User {
  id: string; email: string; name: string; roles: string[]; teams: string[];
  attributes?: Record<string, string>; active: boolean; version: number; totp_enabled?: boolean;
}
export interface Team { id: string; name: string; parent?: string; manager?: string; members: string[]; version: number }
export type Rule = boolean | string;
export interface Grant {
  create: boolean; read: Rule; update: Rule; delete: Rule; import: boolean; export: boolean;
  fields?: Record<string, 'hidden' | 'read_only'>;
}
export interface Role {
  name: string; label: string; description?: string; admin?: boolean; assign_owner?: boolean;
  require_second_factor?: boolean; entities: Record<string, Grant>; built_in?: boolean; version: number;
}
export interface AuditEntry {
  id: string; at: string; actor: string; actor_name?: string; ip?: string; action: string;
  entity?: string; record_id?: string; changes?: unknown; details?: unknown;
}
export interface Explanation {
  user: string; roles: string[]; entity: string; record_id?: string; record_exists: boolean; admin: boolean;
  can: Record<string, boolean>;
  rules: Record<string, { role: string; grant: string; rule: Rule; matches: boolean; error?: string }[]>;
  fields: Record<string, string>;
}

export const users = () => api.get<{ items: User[] }>('/users');
export const createUser = (b: { email: string; name: string; password: string; roles: string[]; teams: string[] }) => api.post<User>('/users', b);
export const patchUser = (id: string, b: Partial<Pick<User, 'roles' | 'teams' | 'attributes' | 'active'>>) => api.patch<User>(`/users/${enc(id)}`, b);
export const setPassword = (id: string, password: string) => api.post(`/users/${enc(id)}/password`, { password });

export const teams = () => api.get<{ items: Team[] }>('/teams');
export const createTeam = (b: { name: string; parent?: string; manager?: string }) => api.post<Team>('/teams', b);
export const patchTeam = (id: string, b: { name?: string; parent?: string; manager?: string }) => api.patch<Team>(`/teams/${enc(id)}`, b);
export const deleteTeam = (id: string) => api.del(`/teams/${enc(id)}`);

export const roles = () => api.get<Role[]>('/roles');
export const role = (name: string) => api.get<Role>(`/roles/${enc(name)}`);
export const putRole = (name: string, r: Omit<Role, 'name' | 'built_in'> & { name?: string }) => api.put<Role>(`/roles/${enc(name)}`, r);
export const deleteRole = (name: string) => api.del(`/roles/${enc(name)}`);

export const audit = (q: Query) => api.get<{ items: AuditEntry[]; next_before: string }>('/audit', q);
export const explain = (q: { entity: string; user: string; id?: string }) => api.get<Explanation>('/access/explain', q);
