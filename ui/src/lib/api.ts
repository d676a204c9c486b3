// The one client of Jimu's public API (/api/v1). Every read and write the
// app makes goes through request(): the session cookie travels by itself,
// unsafe methods carry the CSRF token, and every error arrives as an
// ApiError holding the server's problem document.

export interface FieldError {
  field: string;
  code: string;
  message: string;
  /** the numbers and names a translated message needs ({"min": 12}) */
  params?: Record<string, unknown>;
  line?: number;
  column?: number;
  offset?: number;
}

export interface Problem {
  status: number;
  title?: string;
  detail?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  status: number;
  problem: Problem;
  retryAfter: number;
  constructor(problem: Problem, retryAfter = 0) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.status = problem.status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
  /** The errors of one field (or of the body when none names it). */
  get errors(): FieldError[] {
    return this.problem.errors ?? [];
  }
}

export const CSRF_COOKIE = 'jimu_csrf';
const CSRF_HEADER = 'X-CSRF-Token';

let csrf = '';
let onUnauthorized: (() => void) | null = null;

/** setCSRF keeps the token of a new sign-in (also in the jimu_csrf cookie). */
export function setCSRF(token: string) {
  csrf = token;
}

/** whenUnauthorized is called on every 401 of a signed-in request. */
export function whenUnauthorized(f: () => void) {
  onUnauthorized = f;
}

function csrfToken(): string {
  if (csrf) return csrf;
  for (const part of document.cookie.split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === CSRF_COOKIE && v) return decodeURIComponent(v);
  }
  return '';
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** anonymous: a 401 is an answer (wrong password), not an ended session */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export function url(path: string, query?: Query): string {
  let u = '/api/v1' + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    if (s) u += '?' + s;
  }
  return u;
}

export async function request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrfToken();
    if (t) headers[CSRF_HEADER] = t;
  }
  let res: Response;
  try {
    res = await fetch(url(path, opts.query), {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError({ status: 0, title: 'network' });
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const p = (data && typeof data === 'object' ? data : { status: res.status }) as Problem;
    p.status = res.status;
    if (res.status === 401 && !opts.anonymous && onUnauthorized) onUnauthorized();
    throw new ApiError(p, Number(res.headers.get('Retry-After') || 0));
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, body?: unknown, opts: RequestOptions = {}) => request<T>('POST', path, { ...opts, body }),
  put: <T>(path: string, body?: unknown, opts: RequestOptions = {}) => request<T>('PUT', path, { ...opts, body }),
  patch: <T>(path: string, body?: unknown, opts: RequestOptions = {}) => request<T>('PATCH', path, { ...opts, body }),
  del: <T>(path: string, opts: RequestOptions = {}) => request<T>('DELETE', path, opts),
};

/** enc makes a path segment of a name or id. */
export const enc = encodeURIComponent;
