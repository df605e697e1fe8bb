// The one door to huike's HTTP API (/api/v1): JSON in and out, the session cookie, and
// {"error": {"code", "message"}} turned into ApiError. A 401 on any call but sign-in sends the
// user back to the sign-in page (see main.js).
export class ApiError extends Error {
  constructor(status, code, message, retryAfter, detail) {
    super(message || code || `HTTP ${status}`)
    this.status = status
    this.code = code || ''
    this.retryAfter = retryAfter
    this.detail = detail || null // the whole {error: {...}} object (e.g. line/column of a parse error)
  }
}

let unauthorizedHandler = null
export function onUnauthorized(fn) {
  unauthorizedHandler = fn
}

function query(params) {
  if (!params) return ''
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

async function toError(res) {
  let code = '', message = '', detail = null
  try {
    const j = await res.json()
    code = j?.error?.code || ''
    message = j?.error?.message || ''
    detail = j?.error || null
  } catch {
    /* not JSON */
  }
  const ra = parseInt(res.headers.get('Retry-After') || '', 10)
  return new ApiError(res.status, code, message, Number.isFinite(ra) ? ra : undefined, detail)
}

export async function api(method, path, { body, params, allow401 = false, signal } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' }, signal }
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  let res
  try {
    res = await fetch(`/api/v1${path}${query(params)}`, init)
  } catch (e) {
    if (e?.name === 'AbortError') throw e // a stale request the caller cancelled
    throw new ApiError(0, 'network', e?.message || 'network error')
  }
  if (!res.ok) {
    const err = await toError(res)
    if (res.status === 401 && !allow401 && unauthorizedHandler) unauthorizedHandler()
    throw err
  }
  if (res.status === 204) return null
  const text = await res.text()
  return text ? JSON.parse(text) : null
}

export const get = (path, params, opts) => api('GET', path, { params, ...opts })
export const post = (path, body, opts) => api('POST', path, { body, ...opts })
export const patch = (path, body) => api('PATCH', path, { body })
export const put = (path, body) => api('PUT', path, { body })
export const del = (path) => api('DELETE', path)

// multipart upload with progress (fetch has no upload progress): resolves with the job JSON.
export function upload(path, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `/api/v1${path}`)
    xhr.responseType = 'text'
    xhr.setRequestHeader('Accept', 'application/json')
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(Math.round((e.loaded / e.total) * 100))
    }
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'))
    xhr.onload = () => {
      let j = null
      try {
        j = xhr.responseText ? JSON.parse(xhr.responseText) : null
      } catch {
        j = null
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(j)
      if (xhr.status === 401 && unauthorizedHandler) unauthorizedHandler()
      reject(new ApiError(xhr.status, j?.error?.code, j?.error?.message))
    }
    xhr.send(formData)
  })
}
