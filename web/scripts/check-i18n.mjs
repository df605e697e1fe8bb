// Fails the build when zh-CN.js and en.js do not have exactly the same keys.
import zh from '../src/locales/zh-CN.js'
import en from '../src/locales/en.js'

function keys(o, p = '') {
  return Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, p + k + '.') : [p + k]))
}
const a = new Set(keys(zh)), b = new Set(keys(en))
const onlyZh = [...a].filter((k) => !b.has(k)), onlyEn = [...b].filter((k) => !a.has(k))
if (onlyZh.length || onlyEn.length) {
  if (onlyZh.length) console.error('i18n: only in zh-CN:', onlyZh.join(', '))
  if (onlyEn.length) console.error('i18n: only in en:', onlyEn.join(', '))
  process.exit(1)
}
console.log(`i18n: ${a.size} keys in zh-CN and en`)
