// vue-i18n with Chinese first and English switchable; the choice is kept in localStorage.
// Element Plus' own strings (pagination, date pickers, empty states) follow the same locale.
import { createI18n } from 'vue-i18n'
import { computed } from 'vue'
import zhCN from './locales/zh-CN.js'
import en from './locales/en.js'
import elZhCn from 'element-plus/es/locale/lang/zh-cn'
import elEn from 'element-plus/es/locale/lang/en'

const KEY = 'huike.locale'
export const LOCALES = ['zh-CN', 'en']

function initial() {
  try {
    const saved = localStorage.getItem(KEY)
    if (LOCALES.includes(saved)) return saved
  } catch {
    /* storage disabled */
  }
  return 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: initial(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})

export const elementLocale = computed(() => (i18n.global.locale.value === 'en' ? elEn : elZhCn))

export function setLocale(l) {
  if (!LOCALES.includes(l)) return
  i18n.global.locale.value = l
  document.documentElement.lang = l
  try {
    localStorage.setItem(KEY, l)
  } catch {
    /* storage disabled */
  }
}
document.documentElement.lang = i18n.global.locale.value
