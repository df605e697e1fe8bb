// A user-facing sentence for an ApiError, in the current language; the server's own message
// (English, specific) is kept for validation errors where it names the field.
export function errorText(t, e) {
  if (!e) return ''
  if (e.status === 0) return t('errors.network')
  if (e.status === 403) return t('errors.forbidden')
  if (e.status === 404) return t('errors.notFound')
  if (e.status === 409) return t('errors.conflict', { msg: e.message })
  if (e.status === 413) return t('errors.tooLarge')
  if (e.status === 400 || e.status === 415) return t('errors.invalid', { msg: e.message })
  if (e.status === 429) return t('errors.throttled', { s: e.retryAfter || 60 })
  return t('errors.server', { status: e.status })
}
