// The signed-in person. A 401 on any request means the session ended (idle
// timeout, sign-out elsewhere, deactivation): the app then asks to sign in
// again over the page the person was on, so what they were typing stays.
import { api, ApiError, setCSRF, whenUnauthorized } from './api';
import { setLocale, type Locale } from './i18n.svelte';

export interface User {
  id: string;
  email: string;
  name: string;
  roles?: string[];
  teams?: string[];
  admin: boolean;
  /** rights beyond records: design_forms */
  permissions?: string[];
  locale?: Locale | '';
  totp_enabled?: boolean;
}

export const session = $state({
  user: null as User | null,
  /** checked: the first GET /auth/me has answered */
  checked: false,
  /** expired: a signed-in request got 401 */
  expired: false,
  /** setupOnly: the session may only set up a second factor */
  setupOnly: false,
});

whenUnauthorized(() => {
  if (session.user) session.expired = true;
});

export async function loadMe(): Promise<User | null> {
  try {
    const u = await api.get<User>('/auth/me');
    session.user = u;
    if (u.locale) setLocale(u.locale);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    session.user = null;
  } finally {
    session.checked = true;
  }
  return session.user;
}

export interface LoginAnswer {
  second_factor_required?: boolean;
  second_factor_setup_required?: boolean;
  challenge?: string;
  csrf_token?: string;
  user?: User;
}

/** signIn runs one sign-in step; it answers the challenge when a second factor is due. */
export async function signIn(email: string, password: string): Promise<LoginAnswer> {
  const r = await api.post<LoginAnswer>('/auth/login', { email, password, session: 'cookie' }, { anonymous: true });
  return finish(r);
}

export async function signInCode(challenge: string, code: string, recovery: boolean): Promise<LoginAnswer> {
  const body = recovery ? { challenge, recovery_code: code, session: 'cookie' } : { challenge, code, session: 'cookie' };
  return finish(await api.post<LoginAnswer>('/auth/login/totp', body, { anonymous: true }));
}

async function finish(r: LoginAnswer): Promise<LoginAnswer> {
  if (r.second_factor_required) return r;
  if (r.csrf_token) setCSRF(r.csrf_token);
  const before = session.user?.id;
  session.setupOnly = !!r.second_factor_setup_required;
  await loadMe();
  session.expired = false;
  // Someone else signed in over an expired session: nothing of the
  // previous person's page may stay.
  if (before && session.user && before !== session.user.id) location.assign('/');
  return r;
}

export async function signOut() {
  try {
    await api.post('/auth/logout');
  } catch {
    // the session may have ended already; the cookies go either way
  }
  setCSRF('');
  // Unsent form drafts are the person's: signing out takes them off a
  // shared device.
  const prefix = `jimu.draft.${session.user?.id}.`;
  for (const k of Object.keys(localStorage)) if (k.startsWith(prefix)) localStorage.removeItem(k);
  session.user = null;
  session.expired = false;
}
