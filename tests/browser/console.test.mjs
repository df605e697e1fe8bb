// Browser test of the web console: huike serve (the built binary) with a fresh SQLite database
// and the demo shop, driven in Debian's Chromium by playwright-core (from web/node_modules).
//
//   node console.test.mjs            environment:
//     HUIKE_BIN        the huike binary (ctest passes $<TARGET_FILE:huike>)
//     HUIKE_WEB_DIST   the built console (web/dist)
//     HUIKE_ARTIFACTS  where screenshots go (default: a temp dir)
//     CHROMIUM         the browser (default /usr/bin/chromium)
//
// Checks: sign-in (wrong password shown in place, Enter submits), the dashboard's real numbers
// (customers and buyers equal the RFM report's) without console errors, its first load under 1 s
// and its JS+CSS under 1 MB gzipped, search by nick and the 360 view, an upload on the import page
// finishing with counters and the rejected row, settings, the segment editor (a parse error
// underlined in place, fixed through its suggestion, the live count equal to the API's; saved and
// exported as XLSX when the saved-segments API exists), the RFM heat map and a threshold change
// through its preview, English after the language switch (kept across reloads), an agent seeing
// masked phones, and the customers page at tablet width. One screenshot per page.
// Console flows added with their APIs: the dashboard's summary numbers and net sales by channel
// (chart drawn, totals equal GET /dashboard/sales), the customer list filtered by an RFM tier
// (count = the segment preview's), tags added and removed on the 360 view (when the tags API
// exists), a tier rule previewed (counts = POST /rfm/preview, nothing saved) then saved, and a
// shop's time zone changed in settings (stored and audited), and the segment editor completing a
// category name from the data. Polish: every channel in its own colour on the sales chart (no two
// alike) and the same colour on the 360 view's channel tags; buyers without a nick named by phone
// (masked for the agent) or by channel and id, in both languages; the visual segment builder with
// nothing cut off at 1280×800 and 768×1024, in both languages.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'

const here = dirname(fileURLToPath(import.meta.url))
const webDir = resolve(here, '../../web')
const { chromium } = createRequire(join(webDir, 'package.json'))('playwright-core')

const BIN = process.env.HUIKE_BIN
const DIST = resolve(process.env.HUIKE_WEB_DIST || join(webDir, 'dist'))
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
assert.ok(BIN && existsSync(BIN), 'HUIKE_BIN must name the huike binary')
assert.ok(existsSync(join(DIST, 'index.html')), `no web build in ${DIST}: run make (npm run build in web/)`)

const work = mkdtempSync(join(tmpdir(), 'hk-browser-'))
const ART = process.env.HUIKE_ARTIFACTS || join(work, 'artifacts')
mkdirSync(ART, { recursive: true })
const DB = join(work, 'huike.db')
const ADMIN_PW = 'Admin-pass-2026'
const AGENT_PW = 'Agent-pass-2026'
const t0 = Date.now()
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a)

function cli(args, input) {
  const r = spawnSync(BIN, ['--db', DB, '--data-dir', join(work, 'data'), ...args], { input, encoding: 'utf8', timeout: 120000 })
  if (r.status !== 0) throw new Error(`huike ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

function startServer() {
  return new Promise((resolvePort, reject) => {
    const p = spawn(BIN, ['--db', DB, '--data-dir', join(work, 'data'), '--listen', '127.0.0.1', '--port', '0',
      '--web-root', DIST, '--log-level', 'warn', 'serve'], {
      env: { ...process.env, HUIKE_ADMIN_PASSWORD: ADMIN_PW }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = '', err = ''
    const timer = setTimeout(() => reject(new Error(`huike serve did not start:\n${out}\n${err}`)), 30000)
    p.stdout.on('data', (d) => {
      out += d
      const m = out.match(/listening on http:\/\/[\d.]+:(\d+)/)
      if (m) {
        clearTimeout(timer)
        resolvePort({ proc: p, port: Number(m[1]), stderr: () => err })
      }
    })
    p.stderr.on('data', (d) => (err += d))
    p.on('exit', (code) => reject(new Error(`huike serve exited ${code}:\n${err}`)))
  })
}

const consoleErrors = []
let allowedErrors = [] // substrings of console errors expected at this moment (401s before sign-in)
function watch(page, who) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    const text = m.text()
    if (allowedErrors.some((s) => text.includes(s))) return
    consoleErrors.push(`${who} ${page.url()}: ${text}`)
  })
  page.on('pageerror', (e) => consoleErrors.push(`${who} ${page.url()}: uncaught ${e.message}`))
}
function noConsoleErrors(where) {
  assert.deepEqual(consoleErrors, [], `console errors ${where}`)
}

async function shot(page, name) {
  await page.waitForTimeout(150) // let transitions settle
  await page.screenshot({ path: join(ART, `${name}.png`) })
}

// '#rrggbb' or 'rgb(r, g, b)' as [r, g, b]
function rgb(c) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c)
  if (m) return m.slice(1).map((x) => parseInt(x, 16))
  return (c.match(/\d+/g) || []).slice(0, 3).map(Number)
}
// redmean colour distance (0..~765): below ~100 two colours read as one in a stacked bar
function colourDistance(a, b) {
  const [r1, g1, b1] = rgb(a), [r2, g2, b2] = rgb(b)
  const rm = (r1 + r2) / 2, dr = r1 - r2, dg = g1 - g2, db = b1 - b2
  return Math.sqrt((2 + rm / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rm) / 256) * db * db)
}

// The visual segment builder at the current viewport: a field row (with the longest field label),
// a "bought" row and a tag row; no select cuts its text off and no row runs out of the card.
async function checkBuilder(page, name) {
  await page.click('#tab-visual')
  await page.waitForSelector('[data-test=builder-add]')
  while (await page.locator('[data-test=builder-row]').count() < 3) await page.click('[data-test=builder-add]')
  const rows = page.locator('[data-test=builder-row]')
  await rows.nth(0).locator('.w-field').click()
  await page.click('.el-select-dropdown__item:visible:has(.opt-code:text-is("first_order_days"))')
  await page.waitForTimeout(350)
  for (const [i, type] of [[1, 'bought'], [2, 'tag']]) {
    await rows.nth(i).locator('.w-type').click()
    await page.locator('.el-select-dropdown:visible .el-select-dropdown__item').nth(type === 'bought' ? 1 : 2).click()
    await page.waitForTimeout(350) // the dropdown fades out
  }
  await page.waitForTimeout(200)
  const bad = await page.evaluate(() => {
    const out = []
    const box = document.querySelector('[data-test=builder]').getBoundingClientRect()
    for (const row of document.querySelectorAll('[data-test=builder-row]')) {
      for (const el of row.children) {
        const r = el.getBoundingClientRect()
        if (r.right > box.right + 1) out.push(`${el.className} ends at ${r.right} > ${box.right}`)
      }
      for (const sel of row.querySelectorAll('.el-select')) {
        const text = sel.querySelector('.el-select__selected-item:not(.is-hidden), .el-select__placeholder')
        if (text && text.scrollWidth > text.clientWidth + 1) out.push(`"${text.textContent}" cut off (${text.scrollWidth} > ${text.clientWidth})`)
      }
    }
    return out
  })
  assert.deepEqual(bad, [], `segment builder at ${page.viewportSize().width}px`)
  await page.locator('[data-test=builder]').screenshot({ path: join(ART, `${name}.png`) })
}

async function signIn(page, base, login, password) {
  await page.goto(`${base}/`)
  await page.waitForURL(/\/login/)
  await page.fill('input[name=login]', login)
  await page.fill('input[name=password]', password)
  await page.press('input[name=password]', 'Enter') // keyboard: Enter submits
  await page.waitForURL(/\/dashboard/)
  await page.waitForSelector('[data-test=dashboard-title]')
}

let server, browser
try {
  log('demo shop: 2000 customers')
  cli(['migrate'])
  cli(['demo', '--customers', '2000'])
  server = await startServer()
  const base = `http://127.0.0.1:${server.port}`
  log(`huike serve on ${base}`)
  cli(['user', 'add', 'agent1', '--role', 'agent', '--name', '客服小王', '--password-stdin'], `${AGENT_PW}\n`)

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
  const viewport = { width: 1280, height: 800 }
  const admin = await browser.newContext({ viewport, locale: 'zh-CN' })
  const page = await admin.newPage()
  watch(page, 'admin')

  // ---- sign-in: wrong password shown in place, then the real one --------------------------
  allowedErrors = ['status of 401']
  await page.goto(`${base}/customers`)
  await page.waitForURL(/\/login\?redirect=/)
  await page.fill('input[name=login]', 'admin')
  await page.fill('input[name=password]', 'wrong-password')
  await page.click('[data-test=login-submit]')
  const err = await page.waitForSelector('[data-test=login-error]')
  assert.match(await err.textContent(), /账号或密码错误/)
  await shot(page, '01-login-error')
  await page.fill('input[name=password]', ADMIN_PW)
  await page.press('input[name=password]', 'Enter')
  await page.waitForURL(/\/customers/) // back to where the user was going
  allowedErrors = []
  log('signed in as admin')

  // ---- dashboard ----------------------------------------------------------------------------
  await page.click('[data-nav=dashboard]')
  await page.waitForSelector('[data-test=dashboard-kpis]')
  await page.waitForLoadState('networkidle')
  const rfmReport = await (await admin.request.get(`${base}/api/v1/rfm/report`)).json()
  await page.waitForFunction(() => !/—/.test(document.querySelector('[data-test=kpi-repurchase] .kpi-value')?.textContent || '—'))
  const kpi = async (k) => (await page.textContent(`[data-test=kpi-${k}] .kpi-value`)).trim().replace(/,/g, '')
  assert.equal(await kpi('customers'), String(rfmReport.customers), 'dashboard customers = the RFM report\'s')
  assert.equal(await kpi('buyers'), String(rfmReport.buyers), 'dashboard buyers = the RFM report\'s')
  assert.match(await kpi('repurchase'), /^\d+\.\d%$/)
  await page.waitForSelector('[data-test=dashboard-kpis] canvas') // the tier-share chart
  const summary = await (await admin.request.get(`${base}/api/v1/dashboard/summary`)).json()
  assert.equal(await kpi('newThisMonth'), String(summary.new_buyers_this_month), 'new this month = GET /dashboard/summary')
  assert.equal(await kpi('repurchase'), `${(summary.repurchase_rate * 100).toFixed(1)}%`, 'repurchase rate = GET /dashboard/summary')
  // net sales by channel: the chart is drawn and its total is the API's
  await page.waitForSelector('[data-test=sales-chart] canvas')
  const sales30 = await (await admin.request.get(`${base}/api/v1/dashboard/sales?granularity=day`)).json()
  assert.ok(sales30.series.length > 0 && sales30.total_fen > 0, 'the demo shop sold something in the last 30 days')
  const yuanText = (fen) => `¥${Math.floor(fen / 100).toLocaleString('en-US')}.${String(fen % 100).padStart(2, '0')}`
  assert.equal((await page.textContent('[data-test=sales-total-value]')).trim(), yuanText(sales30.total_fen), 'sales total = the API\'s')
  await page.locator('[data-test=sales-chart]').scrollIntoViewIfNeeded()
  await shot(page, '02-dashboard')
  // every channel drawn in its own colour: none two alike (天猫, 京东 and 拼多多 were all red)
  const chartColors = JSON.parse(await page.getAttribute('[data-test=sales-chart]', 'data-colors'))
  assert.deepEqual(Object.keys(chartColors).sort(), sales30.series.map((x) => x.channel).sort(), 'a colour for each channel drawn')
  assert.ok(['tmall', 'jd', 'pdd'].every((c) => chartColors[c]), 'the demo shop sells on tmall, jd and pdd')
  const chans = Object.keys(chartColors)
  for (let i = 0; i < chans.length; i++) {
    for (let j = i + 1; j < chans.length; j++) {
      const d = colourDistance(chartColors[chans[i]], chartColors[chans[j]])
      assert.ok(d > 150, `${chans[i]} ${chartColors[chans[i]]} and ${chans[j]} ${chartColors[chans[j]]} are too alike (${d.toFixed(0)})`)
    }
  }
  const [monthly] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/v1/dashboard/sales') && r.url().includes('granularity=month')),
    page.click('[data-test=sales-range-m12]'),
  ])
  const m12 = await monthly.json()
  assert.equal(m12.buckets.length, 12, 'twelve monthly buckets')
  await page.waitForFunction((v) => document.querySelector('[data-test=sales-total-value]')?.textContent.trim() === v, yuanText(m12.total_fen))
  await page.waitForSelector('[data-test=sales-chart] canvas')
  await shot(page, '02b-dashboard-sales-monthly')
  log(`dashboard: ${sales30.series.length} channels, 30-day net sales ${yuanText(sales30.total_fen)}, 12 months ${yuanText(m12.total_fen)}`)
  noConsoleErrors('on the dashboard')

  // First load of the dashboard in a fresh context (empty cache, signed in by cookie), in the
  // page's own clock: from the start of the navigation to the dashboard being mounted. Three
  // cold loads, the best one counts (the machine may be busy with other work).
  const state = await admin.storageState()
  const loads = []
  let jsCssBytes = 0, sizes = []
  for (let i = 0; i < 3; i++) {
    const fresh = await browser.newContext({ viewport, locale: 'zh-CN', storageState: state })
    const fp = await fresh.newPage()
    watch(fp, 'first-load')
    const files = []
    fp.on('response', async (r) => {
      const type = r.request().resourceType()
      if (type !== 'script' && type !== 'stylesheet') return
      const h = await r.allHeaders()
      files.push([r.url().replace(base, ''), Number(h['content-length'] || 0), h['content-encoding'] || 'identity'])
    })
    await fp.goto(`${base}/dashboard`)
    await fp.waitForSelector('[data-test=dashboard-kpis]')
    await fp.waitForLoadState('networkidle')
    const nav = await fp.evaluate(() => {
      const e = performance.getEntriesByType('navigation')[0]
      const ready = performance.getEntriesByName('hk:dashboard-ready')[0]
      return { readyMs: Math.round(ready ? ready.startTime : -1), domContentLoaded: Math.round(e.domContentLoadedEventEnd) }
    })
    loads.push(nav)
    jsCssBytes = files.reduce((a, f) => a + f[1], 0)
    sizes = files
    await fresh.close()
  }
  const best = Math.min(...loads.map((l) => l.readyMs))
  log(`first load of the dashboard: on screen ${best} ms after navigation start (cold loads: ${loads.map((l) => l.readyMs).join(', ')} ms); ` +
      `JS+CSS ${(jsCssBytes / 1024).toFixed(1)} KiB transferred in ${sizes.length} files, ${sizes.filter((s) => s[2] === 'gzip').length} gzip-encoded`)
  assert.ok(sizes.every((s) => s[2] === 'gzip' || s[1] < 1024), `uncompressed assets: ${JSON.stringify(sizes.filter((s) => s[2] !== 'gzip'))}`)
  assert.ok(best > 0 && best < 1000, `first load took ${best} ms`)
  assert.ok(jsCssBytes > 0 && jsCssBytes < 1024 * 1024, `JS+CSS at first load: ${jsCssBytes} bytes`)
  writeFileSync(join(ART, 'first-load.json'), JSON.stringify({ bestMs: best, loads, jsCssBytes, files: sizes }, null, 2))
  noConsoleErrors('on the first load')

  // ---- customers: search by nick, open the 360 view ---------------------------------------
  const list = await (await admin.request.get(`${base}/api/v1/customers?limit=50&sort=spend`)).json()
  const target = list.items.find((c) => c.order_count >= 2 && /^[\p{L}\p{N}_]+$/u.test(c.nick)) || list.items[0]
  await page.click('[data-nav=customers]')
  await page.waitForSelector('[data-test=customer-table] .el-table__row')
  await shot(page, '03-customers')
  // keyboard: Tab from the search box reaches the search button of the same form
  await page.focus('input[data-test=customer-search]')
  await page.keyboard.press('Tab')
  assert.ok(await page.evaluate(() => !!document.activeElement?.closest('form') && document.activeElement.matches('button, input')),
    'Tab moves within the search form')
  // filter by an RFM tier: the count shown is the API's (customers?expr= and the segment preview)
  const tierName = rfmReport.tiers[0].name
  await page.click('[data-test=filter-tier]')
  await page.click(`.el-select-dropdown__item:visible >> text="${tierName}"`)
  const tierExpr = `rfm_tier = "${tierName}"`
  await page.waitForFunction((e) => document.querySelector('[data-test=filter-expr]')?.textContent.trim() === e, tierExpr)
  const filtered = await (await admin.request.get(`${base}/api/v1/customers?${new URLSearchParams({ expr: tierExpr, limit: '20' })}`)).json()
  const tierCount = (await (await admin.request.post(`${base}/api/v1/segments/preview`, { data: { expression: tierExpr } })).json()).count
  assert.equal(filtered.expr_count, tierCount, 'expr_count of the list = the segment preview count')
  assert.equal(filtered.expr_count, rfmReport.tiers[0].customers, 'and the RFM report\'s tier count')
  await page.waitForFunction((n) => document.querySelector('[data-test=filter-count]')?.textContent.replace(/,/g, '').trim() === String(n), tierCount)
  await page.waitForFunction((ids) => {
    const shown = [...document.querySelectorAll('[data-test=customer-link] + .id')].map((e) => e.textContent.replace('#', '').trim())
    return shown.length === ids.length && shown.every((id, i) => id === String(ids[i]))
  }, filtered.items.map((c) => c.id))
  const tagged = filtered.items.find((c) => (c.tags || []).length)
  if (tagged) { // tags shown in the table, as the API lists them
    const want = tagged.tags.map((x) => (typeof x === 'string' ? x : x.name))
    await page.waitForFunction(({ id, want }) => {
      const row = [...document.querySelectorAll('[data-test=customer-table] .el-table__row')].find((r) => r.textContent.includes(`#${id}`))
      const got = row ? [...row.querySelectorAll('[data-test=row-tag]')].map((e) => e.textContent.trim()) : []
      return want.every((w) => got.includes(w))
    }, { id: tagged.id, want })
  }
  await shot(page, '03b-customers-filtered')
  log(`customers filtered by tier ${tierName}: ${tierCount} (= the API's), first page as the API lists it`)
  await page.click('[data-test=filter-reset]')
  await page.waitForSelector('[data-test=filter-summary]', { state: 'detached' })
  await page.fill('input[data-test=customer-search]', target.nick)
  await page.press('input[data-test=customer-search]', 'Enter')
  await page.waitForFunction((nick) => [...document.querySelectorAll('[data-test=customer-link]')].some((a) => a.textContent.trim() === nick)
    && document.querySelectorAll('[data-test=customer-link]').length <= 50, target.nick)
  const link = page.locator('[data-test=customer-link]', { hasText: target.nick }).first()
  await link.click()
  await page.waitForURL(/\/customers\/\d+/)
  const nickEl = await page.waitForSelector('[data-test=customer-nick]')
  assert.equal((await nickEl.textContent()).trim(), target.nick)
  await page.waitForSelector('[data-test=timeline]')
  await page.waitForSelector('[data-test=identity-group]')
  const spend = await page.textContent('[data-test=stat-spend]')
  assert.match(spend, /^¥[\d,]+\.\d\d$/, `net spend as yuan: ${spend}`)
  // the RFM card shows the engine's segment and tier for this customer, as the API returns them
  const cid = page.url().match(/\/customers\/(\d+)/)[1]
  const prof = await (await page.request.get(`${base}/api/v1/customers/${cid}`)).json()
  if (prof.rfm?.segment) {
    assert.equal((await page.textContent('[data-test=rfm-segment]')).trim(), prof.rfm.segment)
    assert.equal((await page.textContent('[data-test=rfm-tier]')).trim(), prof.rfm.tier)
  }
  // the timeline's events read like a product ("暖阳 洗发水 · ¥69.00"), not "product_id: P7001 · title: …"
  const tlText = await page.textContent('[data-test=timeline]')
  assert.doesNotMatch(tlText, /\b(product_id|order_no|title|price|carrier|coupon_code|quantity): /, 'no raw property keys in the timeline')
  const titled = (prof.timeline?.items || []).find((x) => x.type === 'event' && x.event?.properties?.title && x.event.properties.price)
  if (titled) assert.ok(tlText.includes(`${titled.event.properties.title} · ¥`), 'an event shows its product title and price in yuan')
  await shot(page, '04-customer-360')
  // the channel tags wear the chart's colours
  const tagColours = await page.$$eval('[data-test=channel-tag]', (els) => els.map((e) => [e.dataset.channel, getComputedStyle(e).backgroundColor]))
  assert.ok(tagColours.length > 0, 'channel tags on the 360 view')
  for (const [ch, bg] of tagColours) {
    if (chartColors[ch]) assert.deepEqual(rgb(bg), rgb(chartColors[ch]), `the ${ch} tag has the chart's colour`)
  }
  // Douyin/PDD buyers without a nick (their exports mask or leave out the buyer): the header names
  // them by phone, else by channel and id
  const nameless = await (await admin.request.post(`${base}/api/v1/orders`, { data: { orders: [
    { shop: '浏览器拼多多店', channel: 'pdd', order_no: 'BT-PDD-1', status: 'paid', created_at: '2026-03-01T10:00:00+08:00',
      paid_at: '2026-03-01T10:01:00+08:00', paid_fen: 3900, buyer: { email: 'pdd-bt-1@example.com' } },
    { shop: '浏览器抖店', channel: 'douyin', order_no: 'BT-DY-1', status: 'paid', created_at: '2026-03-01T11:00:00+08:00',
      paid_at: '2026-03-01T11:01:00+08:00', paid_fen: 5900, buyer: { phone: '13900139066' } },
  ] } })).json()
  const [pddId, dyId] = nameless.results.map((x) => x.customer_id)
  assert.ok(pddId > 0 && dyId > 0, `nameless buyers created: ${JSON.stringify(nameless)}`)
  const header = async (p, id) => {
    await p.goto(`${base}/customers/${id}`)
    await p.waitForSelector('[data-test=timeline]')
    return (await p.textContent('[data-test=customer-nick]')).trim()
  }
  assert.equal(await header(page, pddId), `拼多多买家 #${pddId}`)
  assert.doesNotMatch(await page.textContent('.hk-page-head'), /无昵称/)
  await shot(page, '04c-customer-360-no-nick')
  assert.equal(await header(page, dyId), '13900139066', 'a nameless buyer with a phone is named by it')
  log(`nameless buyers: #${pddId} "拼多多买家 #${pddId}", #${dyId} by phone; channel tags in the chart's colours`)
  log(`searched "${target.nick}" and opened the 360 view (${spend}; RFM ${prof.rfm?.segment ?? 'none'})`)

  // tags on the 360 view: add a manual tag, see it, remove it (once the tags API exists)
  const tagsApi = (await admin.request.get(`${base}/api/v1/tags`)).ok()
  if (tagsApi) {
    const tagName = '浏览器测试标签'
    const cid = page.url().match(/\/customers\/(\d+)/)[1]
    await page.click('[data-test=tag-input]')
    await page.keyboard.type(tagName)
    await page.keyboard.press('Enter') // keyboard: the typed name becomes the choice
    await page.click('[data-test=tag-add]')
    await page.waitForSelector(`[data-test=tag-item][data-tag="${tagName}"]`)
    let prof = await (await admin.request.get(`${base}/api/v1/customers/${cid}`)).json()
    const added = prof.tags.find((x) => x.name === tagName)
    assert.ok(added && added.kind === 'manual', 'the profile API lists the new manual tag')
    await shot(page, '04b-customer-tag-added')
    await page.click(`[data-test=tag-item][data-tag="${tagName}"] .el-tag__close`)
    await page.waitForSelector(`[data-test=tag-item][data-tag="${tagName}"]`, { state: 'detached' })
    prof = await (await admin.request.get(`${base}/api/v1/customers/${cid}`)).json()
    assert.ok(!prof.tags.some((x) => x.name === tagName), 'the tag is gone from the profile API')
    assert.equal(await page.locator('[data-test=tag-item][data-kind=rule] .el-tag__close').count(), 0, 'rule tags cannot be removed')
    log(`tag "${tagName}" added to and removed from customer #${cid}`)
  } else {
    await page.waitForSelector('[data-test=tags-card] [data-test=tag-input]')
    log('tags API not there yet: the tag editor is shown; add/remove not tested')
  }

  // ---- import: a small generic CSV with one bad row ----------------------------------------
  const csv = [
    'order_no,buyer_id,buyer_nick,phone,province,city,channel,shop,status,created_at,paid_at,product_id,product_title,category,quantity,unit_price,paid_amount',
    'BT-1001,bt_u1,浏览器测试甲,13900139001,浙江省,杭州市,taobao,测试小铺,completed,2026-03-01 10:00:00,2026-03-01 10:01:00,P1,测试商品一,测试,1,99.00,99.00',
    'BT-1002,bt_u2,浏览器测试乙,13900139002,江苏省,南京市,taobao,测试小铺,paid,2026-03-02 11:00:00,2026-03-02 11:02:00,P2,测试商品二,测试,2,50.00,100.00',
    'BT-1003,bt_u3,浏览器测试丙,13900139003,广东省,深圳市,taobao,测试小铺,paid,2026-03-03 12:00:00,2026-03-03 12:01:00,P3,测试商品三,测试,1,abc,abc',
  ].join('\n') + '\n'
  const csvPath = join(work, 'browser-orders.csv')
  writeFileSync(csvPath, csv)
  await page.click('[data-nav=imports]')
  await page.waitForSelector('[data-test=import-list]')
  await page.setInputFiles('[data-test=import-file] input[type=file]', csvPath)
  await page.click('[data-test=import-start]')
  await page.waitForSelector('[data-test=import-status][data-status=done]', { timeout: 30000 })
  await page.waitForSelector('[data-test=import-result]')
  assert.equal((await page.textContent('[data-test=count-rows]')).trim(), '3')
  assert.equal((await page.textContent('[data-test=count-orders_created]')).trim(), '2')
  assert.equal((await page.textContent('[data-test=count-rejected]')).trim(), '1')
  await page.waitForSelector('[data-test=import-errors] .el-table__row')
  await shot(page, '05-import')
  log('import finished: 3 rows, 2 orders created, 1 rejected')
  // a Taobao detail list alone: its lines wait for their order list, and the page says so
  const tbWaiting = join(work, 'ExportOrderDetailList-waiting.csv')
  writeFileSync(tbWaiting, '订单编号,标题,价格,购买数量,订单状态\r\n' +
    '="245600000000077999",等待的围巾,59.75,1,交易成功\r\n="245600000000077999",等待的帽子,30.00,1,交易成功\r\n')
  await page.setInputFiles('[data-test=import-file] input[type=file]', tbWaiting)
  const [waitUpload] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/imports') && r.request().method() === 'POST'),
    page.click('[data-test=import-start]'),
  ])
  const waitJob = (await waitUpload.json()).id
  await page.waitForFunction((id) => (document.querySelector('[data-test=import-job]')?.textContent || '').includes(`#${id}`) &&
    document.querySelector('[data-test=import-status]')?.dataset.status === 'done', waitJob, { timeout: 30000 })
  const waitApi = await (await admin.request.get(`${base}/api/v1/imports/${waitJob}`)).json()
  assert.equal(waitApi.result.items_waiting, 2, 'two detail lines wait for their order')
  const waitText = await page.textContent('[data-test=import-items-waiting]')
  assert.ok(waitText.includes('2'), `the page says how many lines wait: ${waitText}`)
  log('detail list alone: 2 lines waiting, shown')
  // a Taobao order list + detail list (UTF-8 here) uploaded together: the 360 view prices the
  // lines from the detail list (price × quantity; it has no per-line paid amount), not ¥0.00
  const tbOrders = join(work, 'ExportOrderList-browser.csv')
  const tbItems = join(work, 'ExportOrderDetailList-browser.csv')
  writeFileSync(tbOrders, '订单编号,买家会员名,买家实际支付金额,订单状态,收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,店铺名称\r\n' +
    '="245600000000077001",浏览器淘宝买家,209.50,交易成功,淘小宝,江苏省 苏州市 姑苏区 平江路8号,\'13900139077,2026-03-05 10:00:00,2026-03-05 10:01:00,浏览器淘宝店\r\n')
  writeFileSync(tbItems, '订单编号,标题,价格,购买数量,订单状态\r\n' +
    '="245600000000077001",羊毛围巾,59.75,2,交易成功\r\n="245600000000077001",针织帽,90.00,1,交易成功\r\n')
  await page.setInputFiles('[data-test=import-file] input[type=file]', [tbOrders, tbItems])
  const [tbUpload] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/imports') && r.request().method() === 'POST'),
    page.click('[data-test=import-start]'),
  ])
  const tbJob = (await tbUpload.json()).id
  await page.waitForFunction((id) => (document.querySelector('[data-test=import-job]')?.textContent || '').includes(`#${id}`) &&
    document.querySelector('[data-test=import-status]')?.dataset.status === 'done', tbJob, { timeout: 30000 })
  assert.equal((await page.textContent('[data-test=count-rows]')).trim(), '3', 'one order row and two item rows read')
  assert.equal((await page.textContent('[data-test=count-rejected]')).trim(), '0')
  const tbCust = (await (await admin.request.get(`${base}/api/v1/customers?q=${encodeURIComponent('浏览器淘宝买家')}`)).json()).items[0]
  await page.goto(`${base}/customers/${tbCust.id}`)
  await page.waitForSelector('[data-test=timeline] [data-test=item-amount]')
  const amounts = (await page.locator('[data-test=item-amount]').allTextContents()).map((x) => x.trim())
  assert.deepEqual(amounts.sort(), ['¥119.50', '¥90.00'], 'Taobao lines priced from the detail list')
  assert.equal((await page.textContent('[data-test=detail-phone]')).trim(), '13900139077', 'a mainland mobile shown as 11 digits')
  await shot(page, '05b-taobao-360')
  // an Excel workbook is refused, and the page says what to do
  const xlsx = join(work, 'orders.xlsx.csv')
  writeFileSync(xlsx, Buffer.from('504b0304140000000800' + '00'.repeat(40), 'hex'))
  await page.click('[data-nav=imports]')
  await page.waitForSelector('[data-test=import-list]')
  await page.setInputFiles('[data-test=import-file] input[type=file]', xlsx)
  await page.click('[data-test=import-start]')
  const failed = await page.waitForSelector('[data-test=import-failed]', { timeout: 30000 })
  assert.match(await failed.textContent(), /另存为/, 'the failure says to save as CSV')
  await shot(page, '05c-import-xlsx-refused')
  log('Taobao pair priced on the 360 view; an .xlsx refused with a hint')

  // ---- settings -----------------------------------------------------------------------------
  await page.click('[data-nav=settings]')
  await page.waitForSelector('[data-test=users-table] .el-table__row')
  assert.ok(await page.locator('[data-test=users-table]').getByText('agent1').count())
  await shot(page, '06-settings')
  // the shop time zone: change one shop's zone; the API and the audit log have it
  const shopsBefore = (await (await admin.request.get(`${base}/api/v1/shops`)).json()).items
  const shop = shopsBefore[0]
  const zone = shop.timezone === 'Asia/Tokyo' ? 'Asia/Shanghai' : 'Asia/Tokyo'
  await page.click('.el-tabs__item >> text=店铺')
  await page.waitForSelector('[data-test=shops-table] .el-table__row')
  assert.equal(await page.locator('[data-test=shops-table] .el-table__body tr').count(), shopsBefore.length, 'every shop listed')
  await page.click(`[data-test=shop-tz-${shop.id}]`)
  await page.keyboard.type(zone)
  await page.keyboard.press('Enter')
  await page.click(`[data-test=shop-tz-save-${shop.id}]`)
  await page.click('.el-message-box__btns .el-button--primary')
  await page.waitForSelector(`.el-message--success >> text=${zone}`)
  const shopAfter = (await (await admin.request.get(`${base}/api/v1/shops`)).json()).items.find((x) => x.id === shop.id)
  assert.equal(shopAfter.timezone, zone, 'the new zone is stored')
  const audit = await (await admin.request.get(`${base}/api/v1/audit?action=shop.update&limit=5`)).json()
  assert.ok((audit.items || audit.entries || []).some((e) => e.target === `shop:${shop.id}`), 'the change is audited')
  await shot(page, '06b-settings-shop-zone')
  log(`shop "${shop.name}": time zone ${shop.timezone} → ${zone}`)
  noConsoleErrors('as admin')

  // ---- segments: a parse error in place, fixed; the live count equals the API's --------------
  const savedApi = (await admin.request.get(`${base}/api/v1/segments`)).ok()
  // the console asks for parse errors inline (200 with "error"), so typing a half-finished or
  // wrong expression logs no failed request (only a 404 while the saved-segments API is missing)
  allowedErrors = savedApi ? [] : ['status of 404']
  await page.click('[data-nav=segments]')
  await page.waitForSelector('[data-test=segment-empty] [data-test=segment-example]')
  // a Chinese seller's slip: "500元" gets a hint on how to write amounts
  await page.click('[data-test=segment-editor]')
  await page.keyboard.type('monetary >= 500元')
  await page.waitForFunction(() => /不要写“元”/.test(document.querySelector('[data-test=segment-error-text]')?.textContent || ''))
  await page.fill('[data-test=segment-editor]', '')
  await page.waitForSelector('[data-test=segment-error]', { state: 'detached' })
  await page.click('[data-test=segment-editor]')
  const bad = 'recency_days > 30 and frequncy >= 2'
  await page.keyboard.type(bad)
  // the half-typed text has its own error ("还需要一个条件"); wait for the whole expression's
  await page.waitForFunction(() => /frequncy/.test(document.querySelector('[data-test=segment-error]')?.textContent || ''))
  const perr = await page.waitForSelector('[data-test=segment-error]')
  const badRes = await admin.request.post(`${base}/api/v1/segments/preview`, { data: { expression: bad } })
  assert.equal(badRes.status(), 400)
  const where = (await badRes.json()).error
  assert.match(await perr.textContent(), new RegExp(`第 ${where.line} 行第 ${where.column} 列`))
  assert.match(await perr.textContent(), /frequncy/)
  assert.doesNotMatch(await perr.textContent(), /line \d+, column \d+|did you mean/, 'the position once, in Chinese; the suggestion as a button')
  assert.equal((await page.textContent('.tk-err')).trim(), 'frequncy', 'the unknown field is underlined in place')
  await shot(page, '07a-segment-error')
  await page.click('[data-test=apply-suggestion]') // "did you mean frequency"
  await page.waitForSelector('[data-test=segment-error]', { state: 'detached' })
  await page.waitForSelector('[data-test=segment-count][data-state=ok]')
  const expr = await page.inputValue('[data-test=segment-editor]')
  assert.equal(expr, 'recency_days > 30 and frequency >= 2')
  const apiCount = (await (await admin.request.post(`${base}/api/v1/segments/preview`, { data: { expression: expr } })).json()).count
  const liveCount = Number((await page.textContent('[data-test=segment-count]')).replace(/,/g, ''))
  assert.equal(liveCount, apiCount, 'live count = POST /segments/preview')
  assert.ok(apiCount > 0, 'the demo shop has such customers')
  await page.waitForSelector('[data-test=segment-members] .el-table__row')
  log(`segment "${expr}": live count ${liveCount} = the API's`)

  if (savedApi) {
    await page.click('[data-test=segment-save]')
    await page.fill('input[data-test=segment-name]', '浏览器测试分群')
    await page.click('[data-test=segment-save-confirm]')
    await page.waitForSelector('[data-test=saved-item] >> text=浏览器测试分群')
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-test=export-xlsx] button')])
    const xlsx = join(work, 'segment.xlsx')
    await dl.saveAs(xlsx)
    const buf = readFileSync(xlsx)
    assert.equal(buf.subarray(0, 2).toString('latin1'), 'PK', 'the XLSX download is a zip')
    const unzip = spawnSync('unzip', ['-p', xlsx, 'xl/worksheets/sheet1.xml'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    if (unzip.status === 0) {
      const rows = (unzip.stdout.match(/<row[ >]/g) || []).length
      assert.equal(rows, apiCount + 1, 'sheet1 has a header row and one row per member')
      assert.ok(unzip.stdout.includes('<t>客户ID</t>') && unzip.stdout.includes('<t>手机号</t>'), 'the header row in the console\'s language (zh-CN)')
      log(`saved and exported XLSX: ${rows - 1} rows`)
    } else log('saved and exported XLSX (no unzip here: rows not counted)')
  } else {
    await page.waitForSelector('[data-test=saved-error]') // shown in place, the page still works
    log('saved-segments API not there yet: its error is shown in place; save/export not tested')
  }
  // autocomplete inside quotes offers names from the data (GET /segments/names)
  const cats = (await (await admin.request.get(`${base}/api/v1/segments/names?kind=category&limit=5`)).json()).items
  assert.ok(cats.length > 0, 'the demo shop has categories')
  await page.fill('[data-test=segment-editor]', '')
  await page.click('[data-test=segment-editor]')
  const prefix = [...cats[0]][0]
  await page.keyboard.type(`main_category = "${prefix}`)
  await page.waitForSelector(`[data-test=autocomplete] li >> text="${cats[0]}"`)
  await page.keyboard.press('Enter') // keyboard: Enter takes the highlighted name and closes the quote
  await page.waitForFunction((e) => document.querySelector('[data-test=segment-editor]').value === e, `main_category = "${cats[0]}"`)
  await page.waitForSelector('[data-test=segment-count][data-state=ok]')
  log(`autocomplete offered the category "${cats[0]}" from the data`)
  await shot(page, '07-segments')
  // the visual builder fits a laptop and a tablet
  await checkBuilder(page, '07b-builder-1280')
  await page.setViewportSize({ width: 768, height: 1024 })
  await checkBuilder(page, '07c-builder-768')
  await shot(page, '07d-segments-768')
  await page.setViewportSize(viewport)
  log('segment builder: nothing cut off at 1280×800 and 768×1024')
  noConsoleErrors('on the segments page')
  allowedErrors = []

  // ---- RFM: the heat map, a threshold changed through the preview --------------------------
  await page.click('[data-nav=rfm]')
  await page.waitForSelector('[data-test=rfm-heatmap] canvas')
  await page.waitForSelector('[data-test=rfm-segments] .el-table__row')
  assert.equal(await page.locator('[data-test=rfm-segments] .el-table__body tr').count(), 8, 'the eight segments')
  await page.waitForTimeout(300) // chart animation
  await shot(page, '08-rfm')
  const before = await (await admin.request.get(`${base}/api/v1/rfm/config`)).json()
  const r0 = before.thresholds.r_days[0] === 21 ? 22 : 21
  await page.click('[data-test=rfm-edit]')
  await page.fill('[data-test=rfm-r0] input', String(r0))
  await page.press('[data-test=rfm-r0] input', 'Tab')
  await page.click('[data-test=rfm-preview]')
  await page.waitForSelector('[data-test=rfm-diff] .el-table__row')
  assert.match(await page.textContent('[data-test=rfm-diff]'), new RegExp(`${before.thresholds.r_days.join(' / ')}[\\s\\S]*${r0} / `))
  await shot(page, '08a-rfm-preview')
  await page.click('[data-test=rfm-confirm]')
  await page.waitForSelector('[data-test=rfm-diff]', { state: 'detached' })
  const after = await (await admin.request.get(`${base}/api/v1/rfm/config`)).json()
  assert.equal(after.thresholds.r_days[0], r0, 'the new threshold is saved')
  assert.deepEqual(after.thresholds.r_days.slice(1), before.thresholds.r_days.slice(1))
  await page.waitForSelector('[data-test=rfm-edit]')
  log(`RFM: heat map drawn; R threshold ${before.thresholds.r_days[0]} → ${r0} saved`)

  // a tier rule edited: the preview shows the new counts beside the current ones, then saves
  const cfg = await (await admin.request.get(`${base}/api/v1/rfm/config`)).json()
  const tier0 = cfg.tiers[0]
  const newMin = tier0.m[0] === 5 ? 4 : 5
  await page.click('[data-test=rfm-edit]')
  await page.fill('[data-test=rfm-tier-0-m-min] input', String(newMin))
  await page.press('[data-test=rfm-tier-0-m-min] input', 'Tab')
  const body = {
    mode: cfg.mode, high_low: cfg.high_low, thresholds: cfg.thresholds, high: cfg.high, other_tier: cfg.other_tier,
    tiers: cfg.tiers.map((x, i) => (i === 0 ? { ...x, m: [newMin, x.m[1]] } : x)),
  }
  const pvApi = await (await admin.request.post(`${base}/api/v1/rfm/preview`, { data: body })).json()
  const reportNow = await (await admin.request.get(`${base}/api/v1/rfm/report`)).json()
  await page.click('[data-test=rfm-preview]')
  await page.waitForSelector('[data-test=rfm-preview-tiers] .el-table__row')
  const pvShown = Number((await page.textContent(`[data-test="pv-tier-${tier0.name}"]`)).replace(/,/g, ''))
  assert.equal(pvShown, pvApi.tiers[0].customers, 'the previewed count is POST /rfm/preview\'s')
  assert.notEqual(pvApi.tiers[0].customers, reportNow.tiers[0].customers, 'the edit changes the tier')
  const rowText = await page.locator('[data-test=rfm-preview-tiers] .el-table__row').first().textContent()
  assert.ok(rowText.includes(reportNow.tiers[0].customers.toLocaleString('en-US')), 'the current count is shown beside it')
  const unsaved = await (await admin.request.get(`${base}/api/v1/rfm/config`)).json()
  assert.deepEqual(unsaved.tiers, cfg.tiers, 'previewing saved nothing')
  await shot(page, '08b-rfm-tier-preview')
  await page.click('[data-test=rfm-confirm]')
  await page.waitForSelector('[data-test=rfm-diff]', { state: 'detached' })
  const saved = await (await admin.request.get(`${base}/api/v1/rfm/config`)).json()
  assert.deepEqual(saved.tiers[0].m, [newMin, tier0.m[1]], 'the tier rule is saved')
  log(`RFM: tier ${tier0.name} M ≥ ${newMin} previewed (${reportNow.tiers[0].customers} → ${pvApi.tiers[0].customers}) and saved`)

  // one shop: the selector switches the report to that shop's buyers, scored among themselves
  const shopList = (await (await admin.request.get(`${base}/api/v1/shops`)).json()).items
  let shopPick = null
  for (const s of shopList) {
    const rep = await (await admin.request.get(`${base}/api/v1/rfm/report?shop=${s.id}`)).json()
    if (rep.buyers > 0 && (!shopPick || rep.buyers > shopPick.rep.buyers)) shopPick = { s, rep } // the largest shop
  }
  assert.ok(shopPick, 'a shop with buyers')
  await page.click('[data-test=rfm-shop]')
  await page.click(`[data-test=rfm-shop-${shopPick.s.id}]`)
  await page.waitForFunction(
    (want) => document.querySelector('[data-test=rfm-buyers]')?.textContent.trim() === want,
    shopPick.rep.buyers.toLocaleString('en-US'))
  await page.waitForSelector('[data-test=rfm-inherited]')
  const shopCfg = await (await admin.request.get(`${base}/api/v1/rfm/config?shop=${shopPick.s.id}`)).json()
  assert.equal(shopCfg.inherited, true, 'a shop without its own settings inherits')
  assert.ok((await page.textContent('[data-test=rfm-buyers]')).trim() !== reportNow.buyers.toLocaleString('en-US') ||
    shopPick.rep.buyers === reportNow.buyers, 'the shop\'s count, not all shops\'')
  await shot(page, '08c-rfm-one-shop')
  await page.click('[data-test=rfm-shop]')
  await page.click('[data-test=rfm-shop-0]')
  await page.waitForFunction(
    (want) => document.querySelector('[data-test=rfm-buyers]')?.textContent.trim() === want,
    reportNow.buyers.toLocaleString('en-US'))
  log(`RFM: shop ${shopPick.s.channel}/${shopPick.s.name} shows its ${shopPick.rep.buyers} buyers (= GET /rfm/report?shop=${shopPick.s.id}), then all shops again`)
  noConsoleErrors('on the RFM page')

  // ---- English ------------------------------------------------------------------------------
  await page.click('[data-test=lang-switch]')
  await page.click('[data-test=lang-en]')
  await page.click('[data-nav=customers]')
  await page.waitForSelector('[data-test=customer-table] .el-table__row')
  await page.reload() // the choice is kept
  await page.waitForSelector('[data-test=customer-table] .el-table__row')
  for (const label of ['Dashboard', 'Customers', 'Segments', 'Import', 'Settings']) {
    assert.ok(await page.locator(`.el-menu >> text=${label}`).count(), `menu label ${label} in English`)
  }
  assert.ok(await page.getByRole('button', { name: 'Search' }).count(), 'the Search button in English')
  assert.ok(await page.getByText('Net spend').count(), 'column header in English')
  await shot(page, '09-customers-en')
  await page.click('[data-nav=rfm]')
  await page.waitForSelector('[data-test=tier-rule-line]')
  for (const line of await page.locator('[data-test=tier-rule-line]').allTextContents()) {
    assert.match(line, /^\d+\. .+: R \d–\d, F \d–\d, M \d–\d$/, `English tier rule line: ${line}`)
  }
  // the eight segments keep their Chinese names (the values in expressions) and say what they mean
  const meanings = await page.locator('[data-test=rfm-seg-meaning]').allTextContents()
  assert.ok(meanings.length > 0 && meanings.every((m) => /^[A-Z][A-Za-z ]+: [a-z ,]+$/.test(m.trim())), `segment meanings in English: ${meanings}`)
  await shot(page, '09b-rfm-en')
  assert.equal(await header(page, pddId), `Pinduoduo buyer #${pddId}`, 'the nameless header in English')
  await page.click('[data-nav=segments]')
  await page.waitForSelector('[data-test=segment-editor]')
  allowedErrors = [] // a half-built condition is a parse error, answered inline: no failed request
  await page.setViewportSize({ width: 768, height: 1024 })
  await checkBuilder(page, '09c-builder-768-en') // "Customer field" and "Days since first order" are long
  await page.setViewportSize(viewport)
  await checkBuilder(page, '09d-builder-1280-en')
  allowedErrors = []
  log('switched to English')

  // sign out through the user menu
  await page.click('[data-test=user-menu]')
  await page.click('[data-test=logout]')
  await page.waitForURL(/\/login/)
  await admin.close()

  // ---- the agent sees masked phones --------------------------------------------------------
  const agentCtx = await browser.newContext({ viewport, locale: 'zh-CN' })
  const ap = await agentCtx.newPage()
  watch(ap, 'agent')
  allowedErrors = ['status of 401']
  await signIn(ap, base, 'agent1', AGENT_PW)
  allowedErrors = []
  assert.equal(await ap.locator('[data-nav=imports]').count(), 0, 'no import menu for agents')
  await ap.click('[data-nav=customers]')
  await ap.waitForSelector('[data-test=customer-table] .el-table__row')
  await ap.waitForSelector('[data-test=masked-note]')
  const phones = (await ap.locator('[data-test=phone]').allTextContents()).map((s) => s.trim()).filter((s) => s !== '—')
  assert.ok(phones.length > 0, 'phones listed')
  for (const p of phones) assert.match(p, /\*\*\*\*/, `masked phone: ${p}`)
  await shot(ap, '10-customers-agent')
  assert.equal(await header(ap, dyId), '139****9066', 'the agent sees the nameless buyer\'s phone masked')
  await ap.goBack()
  log(`agent sees ${phones.length} masked phones, e.g. ${phones[0]}`)

  // tablet width
  await ap.setViewportSize({ width: 820, height: 1180 })
  await ap.reload()
  await ap.waitForSelector('[data-test=customer-table] .el-table__row')
  await shot(ap, '11-customers-tablet')
  assert.ok(await ap.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scrolling at tablet width')
  noConsoleErrors('as agent')
  await agentCtx.close()

  log(`passed; screenshots in ${ART}`)
} catch (e) {
  console.error(e)
  if (server) console.error('--- server stderr ---\n' + server.stderr())
  process.exitCode = 1
} finally {
  if (browser) await browser.close().catch(() => {})
  if (server) {
    server.proc.removeAllListeners('exit')
    server.proc.kill('SIGTERM')
    await new Promise((r) => server.proc.once('exit', r))
  }
  rmSync(work, { recursive: true, force: true, maxRetries: 3 })
  if (process.env.HUIKE_ARTIFACTS === undefined) console.log('(screenshots were in a temp dir: set HUIKE_ARTIFACTS to keep them)')
}
