// Writes a .gz copy beside every text asset of the build (html, js, mjs, css, svg, json, map,
// txt) so huike serve can send it precompressed to clients that accept gzip. Node's zlib only.
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { join, extname } from 'node:path'
import { gzipSync, constants } from 'node:zlib'

const TEXT = new Set(['.html', '.js', '.mjs', '.css', '.svg', '.json', '.map', '.txt', '.ico'])
const root = process.argv[2] || 'dist'
let files = 0, raw = 0, packed = 0

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) { walk(p); continue }
    if (!TEXT.has(extname(name)) || st.size < 256) continue
    const data = readFileSync(p)
    const gz = gzipSync(data, { level: constants.Z_BEST_COMPRESSION })
    if (gz.length >= data.length) continue
    writeFileSync(p + '.gz', gz)
    files++; raw += data.length; packed += gz.length
  }
}
walk(root)
console.log(`compress: ${files} files, ${(raw / 1024).toFixed(0)} KiB -> ${(packed / 1024).toFixed(0)} KiB gzipped`)
