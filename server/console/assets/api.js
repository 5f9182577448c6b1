// Talking to the server. The access token lives in this module's memory only;
// the refresh token is an HttpOnly cookie the page cannot read, sent by the
// browser to /api/console/session only (see docs/console.md).

const CSRF = {'X-AI-Console': '1'};

const session = {token: null, expiresAt: 0, me: null, warning: null, timer: null};
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

/** Called with the new state (signed in or not) whenever it changes. */
export function onSessionChange(fn) {
  listeners.add(fn);
}

function changed() {
  for (const fn of listeners) fn(session.me);
}

export function currentUser() {
  return session.me;
}

export function token() {
  return session.token;
}

export function warning() {
  return session.warning || (session.me && session.me.must_change_password
    ? 'This account uses the old default password; change it now.' : null);
}

export function hasScope(scope) {
  const scopes = session.me ? session.me.scopes : [];
  return scopes.includes('admin') || scopes.includes(scope);
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function failure(response, body) {
  const detail = body && typeof body === 'object' && body.detail
    ? (typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail))
    : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, detail, body);
}

async function sessionCall(method, path, body) {
  const headers = {...CSRF};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await readBody(response);
  if (!response.ok) throw failure(response, data);
  return data;
}

function schedule(expiresIn) {
  clearTimeout(session.timer);
  session.expiresAt = Date.now() + expiresIn * 1000;
  // Refresh at 80 % of the lifetime, at least 5 s from now.
  const delay = Math.max(5000, expiresIn * 800);
  session.timer = setTimeout(() => { refresh().catch(() => signedOut()); }, delay);
}

async function adopt(data) {
  session.token = data.access_token;
  if (data.warning) session.warning = data.warning;
  schedule(data.expires_in || 60);
  session.me = await api('GET', '/api/auth/me');
  changed();
  return session.me;
}

function signedOut() {
  clearTimeout(session.timer);
  session.token = null;
  session.me = null;
  session.warning = null;
  changed();
}

export async function login(username, password) {
  const data = await sessionCall('POST', '/api/console/session', {username, password});
  session.warning = data.warning || null;
  return adopt(data);
}

let refreshing = null;
/** A new access token from the cookie; one request at a time. */
export function refresh() {
  if (!refreshing) {
    refreshing = sessionCall('POST', '/api/console/session/refresh')
      .then(adopt)
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Signs in from the cookie when there is a session; null otherwise. */
export async function restore() {
  try {
    return await refresh();
  } catch {
    // With AI_AUTH_ENABLED=false every request acts as the admin: no sign-in.
    try {
      const health = await (await fetch('/health', {cache: 'no-store'})).json();
      if (health.auth_enabled === false) {
        session.me = await api('GET', '/api/auth/me');
        return session.me;
      }
    } catch { /* not signed in */ }
    return null;
  }
}

export async function logout() {
  try {
    await sessionCall('DELETE', '/api/console/session');
  } finally {
    signedOut();
  }
}

/** An API call with the access token; one retry after a refresh on 401. */
export async function api(method, path, body, retried = false) {
  const headers = {Accept: 'application/json'};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await readBody(response);
  if (response.status === 401 && session.token && !retried && path !== '/api/auth/me') {
    try {
      await refresh();
    } catch {
      signedOut();
      throw failure(response, data);
    }
    return api(method, path, body, true);
  }
  if (!response.ok) throw failure(response, data);
  return data;
}

/** Query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}
