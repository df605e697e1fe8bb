import { createApp } from 'vue'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/theme-chalk/el-message.css'
import 'element-plus/theme-chalk/el-message-box.css'
import './style.css'
import App from './App.vue'
import { i18n } from './i18n.js'
import { router } from './router.js'
import { onUnauthorized } from './api.js'
import { clearSession } from './session.js'

// A 401 anywhere (expired or revoked session): back to sign-in, then back to where the user was.
onUnauthorized(() => {
  clearSession()
  const cur = router.currentRoute.value
  if (cur.name !== 'login') router.replace({ name: 'login', query: { redirect: cur.fullPath, expired: '1' } })
})

createApp(App).use(i18n).use(router).mount('#app')
