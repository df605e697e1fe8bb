// Routes: every page is a dynamic import, so the first load carries only the shell and the
// page shown. Pages that need a session redirect to sign-in; role-gated pages say so in meta.
import { createRouter, createWebHistory } from 'vue-router'
import { session, loadSession } from './session.js'
// The shell is part of every signed-in page: loaded with the app, not as a second round trip.
import Shell from './layouts/Shell.vue'

const routes = [
  { path: '/login', name: 'login', component: () => import('./pages/Login.vue'), meta: { public: true } },
  {
    path: '/',
    component: Shell,
    children: [
      { path: '', redirect: { name: 'dashboard' } },
      { path: 'dashboard', name: 'dashboard', component: () => import('./pages/Dashboard.vue'), meta: { title: 'nav.dashboard' } },
      { path: 'customers', name: 'customers', component: () => import('./pages/Customers.vue'), meta: { title: 'nav.customers' } },
      { path: 'customers/:id(\\d+)', name: 'customer', component: () => import('./pages/CustomerDetail.vue'), meta: { title: 'customer.title', parent: 'customers' } },
      { path: 'segments', name: 'segments', component: () => import('./pages/Segments.vue'), meta: { title: 'nav.segments' } },
      { path: 'rfm', name: 'rfm', component: () => import('./pages/Rfm.vue'), meta: { title: 'nav.rfm' } },
      { path: 'imports', name: 'imports', component: () => import('./pages/Imports.vue'), meta: { title: 'nav.imports', roles: ['admin', 'manager', 'operator'] } },
      { path: 'settings', name: 'settings', component: () => import('./pages/Settings.vue'), meta: { title: 'nav.settings' } },
      { path: ':rest(.*)*', name: 'notfound', component: () => import('./pages/NotFound.vue'), meta: { title: 'notFound.title' } },
    ],
  },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!session.loaded) await loadSession()
  if (!session.user) return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  return true
})
