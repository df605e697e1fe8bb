// Who is signed in: loaded once from /auth/me, cleared on sign-out or a 401.
import { reactive } from 'vue'
import { get, post } from './api.js'

export const session = reactive({ user: null, piiAccess: false, loaded: false })

export async function loadSession() {
  try {
    const me = await get('/auth/me', undefined, { allow401: true })
    session.user = me.user
    session.piiAccess = !!me.pii_access
  } catch {
    session.user = null
    session.piiAccess = false
  }
  session.loaded = true
  return session.user
}

export async function signIn(login, password) {
  const r = await post('/auth/login', { login, password }, { allow401: true })
  session.user = r.user
  session.loaded = false
  await loadSession()
  return r.user
}

export async function signOut() {
  try {
    await post('/auth/logout', undefined, { allow401: true })
  } finally {
    clearSession()
  }
}

export function clearSession() {
  session.user = null
  session.piiAccess = false
  session.loaded = true
}

export const IMPORT_ROLES = ['admin', 'manager', 'operator']
// Segments and RFM read the engine's analytics, which the API allows to these roles only.
export const ANALYTICS_ROLES = ['admin', 'manager', 'operator']
export function hasRole(...roles) {
  return !!session.user && roles.includes(session.user.role)
}
