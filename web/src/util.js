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
// Douyin exports recipients encrypted (`##…##`, `$$…$$`); huike keeps them as they came, but
// such a value is no name or number a seller can read, so the console says "encrypted" instead.
export function encrypted(s) {
  return typeof s === 'string' && /^(##|\$\$)/.test(s)
}
// Mainland mobiles as the marketplaces show them: +8613912345678 → 13912345678; others unchanged.
export function phone(s) {
  if (!s) return '—'
  const m = /^\+86(1\d{10})$/.exec(s)
  return m ? m[1] : s
}
// One colour per sales channel, the same on the dashboard's chart and on the channel tags of the
// 360 view, and far enough apart that channels stacked in one bar can be told apart: the brand
// colour where the brands do not clash (Taobao orange, Tmall red, Douyin black, WeChat green),
// a neighbouring hue where they would (JD blue, Pinduoduo gold, Xiaohongshu pink, Kuaishou brown
// instead of four more reds and oranges). Any two named channels differ by more than 150 in the
// redmean distance the browser test checks.
export const CHANNEL_COLORS = {
  taobao: '#ff6a00', tmall: '#d4001a', jd: '#2f6bff', pdd: '#f2c200', douyin: '#1f1f1f', wechat: '#07c160',
  kuaishou: '#8d5524', xiaohongshu: '#e84393', youzan: '#00a6c7', weidian: '#9ccc65', offline: '#455a64',
  pos: '#8e24aa', generic: '#8993a4', other: '#c3c9d4', '*': '#909399',
}
const EXTRA_COLORS = ['#36b37e', '#ff8b00', '#00875a', '#403294', '#b04632', '#008da6']
export function channelColor(ch) {
  if (CHANNEL_COLORS[ch]) return CHANNEL_COLORS[ch]
  let h = 0
  for (const c of String(ch)) h = (h * 31 + c.codePointAt(0)) >>> 0
  return EXTRA_COLORS[h % EXTRA_COLORS.length]
}
// an element-plus tag in the channel's colour, with text that stays readable on it
export function channelTagStyle(ch) {
  const bg = channelColor(ch)
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(bg.slice(i, i + 2), 16))
  const light = 0.299 * r + 0.587 * g + 0.114 * b > 170
  return { backgroundColor: bg, borderColor: bg, color: light ? '#1f1f1f' : '#fff' }
}
