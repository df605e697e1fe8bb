// Display helpers: money from fen, dates from the API's UTC ISO strings.
export function yuanFromFen(fen) {
  if (fen === null || fen === undefined) return '—'
  const neg = fen < 0
  const a = Math.abs(Math.trunc(fen))
  const s = `${Math.floor(a / 100).toLocaleString('en-US')}.${String(a % 100).padStart(2, '0')}`
  return `${neg ? '-' : ''}¥${s}`
}
// the API's "330.00" yuan strings, with the currency sign and thousands separators
export function yuan(s) {
  if (s === null || s === undefined || s === '') return '—'
  const [i, d = '00'] = String(s).split('.')
  const neg = i.startsWith('-')
  const digits = neg ? i.slice(1) : i
  return `${neg ? '-' : ''}¥${digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${d}`
}
function pad(n) {
  return String(n).padStart(2, '0')
}
export function dateTime(iso) {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}
export function date(iso) {
  return iso ? dateTime(iso).slice(0, 10) : '—'
}
export function bytes(n) {
  if (!n && n !== 0) return '—'
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}
