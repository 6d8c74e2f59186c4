/**
 * `npm start`: the local instance. Makes the local secrets once, applies the D1 migrations, then
 * runs `wrangler dev` with embedded D1, R2, Queues and Durable Objects under `.wrangler/state`.
 * PORT (default 8787) and HOST (default 127.0.0.1) move it; PERSIST_TO moves the state.
 */
import { spawn, spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { ensureLocalSecrets } from './local-secrets'

const root = resolve(import.meta.dirname, '..')
const port = process.env.PORT ?? '8787'
const host = process.env.HOST ?? '127.0.0.1'
const persist = process.env.PERSIST_TO ? ['--persist-to', process.env.PERSIST_TO] : []
const quiet = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
}
const wrangler = resolve(root, 'node_modules', '.bin', 'wrangler')

const { created } = ensureLocalSecrets()
if (created) console.log('Generated local secrets in .dev.vars (kept across restarts).')

const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local', ...persist], {
  cwd: root,
  env: { ...quiet, CI: 'true' },
  stdio: ['ignore', 'inherit', 'inherit'],
})
if (migrate.status !== 0) {
  console.error('Applying the D1 migrations failed; see the output above.')
  process.exit(migrate.status ?? 1)
}

const publicUrl = process.env.PUBLIC_URL ?? `http://${host}:${port}`
console.log(`rockit-edge on ${publicUrl}`)
console.log('Admin token: npm run admin-token -- <your-name>   (send it as x-rockit-admin-token)')

const dev = spawn(
  wrangler,
  [
    'dev',
    '--local',
    '--ip',
    host,
    '--port',
    port,
    '--show-interactive-dev-session=false',
    '--test-scheduled',
    '--var',
    `PUBLIC_URL:${publicUrl}`,
    '--var',
    'ALLOW_PRIVATE_TARGETS:true',
    ...persist,
  ],
  { cwd: root, env: quiet, stdio: 'inherit' },
)

// wrangler dev never fires cron triggers by itself; run the cron handler on its schedule.
const cronEveryMs = 5 * 60 * 1000
const cron = setInterval(() => {
  fetch(`http://${host}:${port}/cdn-cgi/handler/scheduled`).catch(() => {
    // not ready yet or stopping: the next tick tries again
  })
}, cronEveryMs)

// The local runtime sometimes parks a request that arrives during a long queue step until the
// next request comes in (seen with wrangler 4.86 / workerd 2026-04-26; see docs/architecture.md).
// A light request every few seconds releases it; the service logs these at debug level only.
const nudge = setInterval(() => {
  fetch(`http://${host}:${port}/srv/v1/versions`, { headers: { 'x-rockit-keepalive': '1' } })
    .then((response) => response.body?.cancel())
    .catch(() => {
      // not ready yet or stopping: the next nudge tries again
    })
}, 5000)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    clearInterval(cron)
    clearInterval(nudge)
    dev.kill(signal)
  })
}
dev.on('exit', (code) => {
  clearInterval(cron)
  clearInterval(nudge)
  process.exit(code ?? 0)
})
