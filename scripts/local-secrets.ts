/**
 * Local instance secrets: `.dev.vars` (git-ignored) holds EDGE_ADMIN_SECRET and
 * EDGE_ENCRYPTION_KEY for `wrangler dev`. They are generated once and kept, so admin tokens and
 * encrypted origin secrets stay valid across restarts.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'

export const DEV_VARS = resolve(import.meta.dirname, '..', '.dev.vars')

/** Parses `.dev.vars` (KEY="value" lines). */
export function readDevVars(path = DEV_VARS): Record<string, string> {
  if (!existsSync(path)) return {}
  const vars: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = line.match(/^\s*([A-Z0-9_]+)\s*=\s*"?([^"]*)"?\s*$/)
    if (match) vars[match[1]] = match[2]
  }
  return vars
}

/** Creates `.dev.vars` with fresh secrets unless it already has them; returns the secrets. */
export function ensureLocalSecrets(path = DEV_VARS): { adminSecret: string; created: boolean } {
  const vars = readDevVars(path)
  if (vars.EDGE_ADMIN_SECRET && vars.EDGE_ENCRYPTION_KEY) {
    return { adminSecret: vars.EDGE_ADMIN_SECRET, created: false }
  }
  const adminSecret = randomBytes(32).toString('base64')
  const encryptionKey = randomBytes(32).toString('base64')
  writeFileSync(
    path,
    `# Local secrets of this rockit-edge instance, made by npm start. Never commit this file.\n` +
      `EDGE_ADMIN_SECRET="${adminSecret}"\nEDGE_ENCRYPTION_KEY="${encryptionKey}"\n`,
    { mode: 0o600 },
  )
  return { adminSecret, created: true }
}
