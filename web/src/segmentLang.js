// The segment expression language as the console knows it (docs/segments.md): fields with their
// kind (for the visual builder's operators and values), functions with an insert snippet ($ marks
// where the caret goes), keywords, and the arguments of bought()/event().
export const FIELDS = [
  { name: 'recency_days', kind: 'days' },
  { name: 'first_order_days', kind: 'days' },
  { name: 'frequency', kind: 'number' },
  { name: 'monetary', kind: 'money' },
  { name: 'aov', kind: 'money' },
  { name: 'coupon_use_rate', kind: 'number' },
  { name: 'refund_count', kind: 'number' },
  { name: 'r_score', kind: 'number' },
  { name: 'f_score', kind: 'number' },
  { name: 'm_score', kind: 'number' },
  { name: 'main_category', kind: 'text', values: 'category' },
  { name: 'province', kind: 'text', values: 'province' },
  { name: 'city', kind: 'text', values: 'city' },
  { name: 'channel', kind: 'text', values: 'channel' },
  { name: 'rfm_segment', kind: 'text', values: 'rfm_segment' },
  { name: 'rfm_tier', kind: 'text', values: 'rfm_tier' },
]
export const FUNCTIONS = [
  { name: 'bought', snippet: 'bought($)' },
  { name: 'event', snippet: 'event(type="$")' },
  { name: 'has_tag', snippet: 'has_tag("$")' },
  { name: 'in_segment', snippet: 'in_segment("$")' },
]
export const KEYWORDS = ['and', 'or', 'not', 'in', 'between']
export const ARGS = ['product', 'category', 'within', 'min_count', 'type']
export const NUM_OPS = ['>', '>=', '<', '<=', '=', '!=']
export const TEXT_OPS = ['=', '!=', 'in']
export const CHANNELS = ['taobao', 'tmall', 'douyin', 'pdd', 'jd', 'kuaishou', 'xiaohongshu', 'wechat', 'youzan', 'weidian', 'offline', 'generic']
export const EVENT_TYPES = ['browse', 'cart', 'favourite', 'coupon_claim', 'coupon_use', 'review', 'check_in', 'share', 'logistics']
export const RFM_SEGMENTS = ['重要价值客户', '重要发展客户', '重要保持客户', '重要挽留客户', '一般价值客户', '一般发展客户', '一般保持客户', '一般挽留客户']

export function quote(s) {
  return '"' + String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"'
}

// Visual builder rows → expression text.
//   {type: 'field', field, op, value}  {type: 'bought', category, product, within, min_count}
//   {type: 'tag', value}
export function buildExpression(rows, join) {
  const parts = []
  for (const r of rows) {
    if (r.type === 'field') {
      const f = FIELDS.find((x) => x.name === r.field)
      if (!f || r.value === '' || r.value === null || r.value === undefined) continue
      if (f.kind === 'text') {
        if (r.op === 'in') {
          const vals = String(r.value).split(/[,，]/).map((v) => v.trim()).filter(Boolean)
          if (vals.length) parts.push(`${f.name} in (${vals.map(quote).join(', ')})`)
        } else parts.push(`${f.name} ${r.op} ${quote(r.value)}`)
      } else {
        const v = String(r.value).trim()
        if (v) parts.push(`${f.name} ${r.op} ${v}`)
      }
    } else if (r.type === 'bought') {
      const args = []
      if (r.category) args.push(`category=${quote(r.category)}`)
      if (r.product) args.push(`product=${quote(r.product)}`)
      if (r.within) args.push(`within=${r.within}d`)
      if (r.min_count && r.min_count > 1) args.push(`min_count=${r.min_count}`)
      parts.push(`${r.negate ? 'not ' : ''}bought(${args.join(', ')})`)
    } else if (r.type === 'tag' && r.value) {
      parts.push(`${r.negate ? 'not ' : ''}has_tag(${quote(r.value)})`)
    }
  }
  return parts.join(` ${join} `)
}
