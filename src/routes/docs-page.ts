/**
 * `GET /docs`: an interactive reference built from `/openapi.json` in the browser. Written here
 * rather than taken from Swagger UI or Scalar because those load their scripts from a public CDN,
 * and the page must work on an instance with no outside network.
 */
export function docsPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rockit-edge API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fafbfc}
header{padding:16px 24px;background:#14202e;color:#fff}header h1{margin:0;font-size:20px}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
details{background:#fff;border:1px solid #d8dee4;border-radius:6px;margin:6px 0}
summary{cursor:pointer;padding:8px 12px;font-family:ui-monospace,monospace}
.m{display:inline-block;width:62px;font-weight:700}.get{color:#1a7f37}.post{color:#0969da}
.patch{color:#9a6700}.delete{color:#cf222e}.put{color:#8250df}
.body{padding:8px 12px;border-top:1px solid #eaeef2}pre{background:#f6f8fa;padding:8px;overflow:auto}
textarea,input{width:100%;box-sizing:border-box;font-family:ui-monospace,monospace}
button{margin-top:6px;padding:4px 12px}label{display:block;margin-top:6px;font-weight:600}
</style></head>
<body><header><h1>rockit-edge API</h1><div id="info"></div></header>
<main><p>Credentials used by "Send" (kept only in this page):</p>
<label>Header lines (name: value)</label><textarea id="creds" rows="3" placeholder="x-rockit-beauth-token: ..."></textarea>
<div id="ops">Loading /openapi.json ...</div></main>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))
function headers() {
  const h = {}
  for (const line of document.getElementById('creds').value.split('\\n')) {
    const i = line.indexOf(':'); if (i > 0) h[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return h
}
async function send(id, method, path) {
  const root = document.getElementById(id)
  let url = path
  for (const input of root.querySelectorAll('input[data-param]')) url = url.replace('{' + input.dataset.param + '}', encodeURIComponent(input.value))
  const query = root.querySelector('input[data-query]').value
  if (query) url += '?' + query
  const init = { method: method.toUpperCase(), headers: headers() }
  const body = root.querySelector('textarea')
  if (body && body.value.trim()) { init.body = body.value; init.headers['content-type'] = 'application/json' }
  const res = await fetch(url, init)
  root.querySelector('pre.out').textContent = res.status + ' ' + res.statusText + '\\n' + await res.text()
}
function resolve(doc, schema, depth) {
  if (!schema || depth > 6) return schema
  if (schema.$ref) return resolve(doc, doc.components.schemas[schema.$ref.split('/').pop()], depth + 1)
  if (Array.isArray(schema)) return schema.map((s) => resolve(doc, s, depth + 1))
  if (typeof schema !== 'object') return schema
  const out = {}
  for (const [k, v] of Object.entries(schema)) out[k] = resolve(doc, v, depth + 1)
  return out
}
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('info').textContent = doc.info.title + ' ' + doc.info.version
  let html = '', n = 0
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    const id = 'op' + n++
    const params = (op.parameters || []).filter((p) => p.in === 'path')
    const schema = op.requestBody && op.requestBody.content && op.requestBody.content['application/json']
    html += '<details id="' + id + '"><summary><span class="m ' + method + '">' + method.toUpperCase() + '</span>' + esc(path) + ' &mdash; ' + esc(op.summary || '') + '</summary><div class="body">'
    for (const p of params) html += '<label>' + esc(p.name) + '</label><input data-param="' + esc(p.name) + '">'
    html += '<label>Query string</label><input data-query placeholder="limit=10&amp;order[]=-created">'
    if (schema) html += '<label>JSON body</label><textarea rows="5"></textarea><pre>' + esc(JSON.stringify(resolve(doc, schema.schema, 0), null, 2)) + '</pre>'
    html += '<button onclick="send(\\'' + id + '\\',\\'' + method + '\\',\\'' + esc(path) + '\\')">Send</button>'
    const security = (op.security || []).map((r) => Object.keys(r).join(' + ')).join(' | ')
    html += '<label>Credentials</label><pre>' + esc(security || 'none') + '</pre>'
    html += '<label>Responses</label><pre>' + esc(Object.keys(op.responses || {}).join(', ')) + '</pre><pre class="out"></pre></div></details>'
  }
  document.getElementById('ops').innerHTML = html
})
</script></body></html>`
}
