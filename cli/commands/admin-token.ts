import { parseArgs } from 'node:util'
import { ensureLocalSecrets } from '../../scripts/local-secrets'
import { signAdminToken } from '../../src/domain/auth/admin-token'
import { type Command, UsageError } from '../command'

const usage = `Usage: rockit admin-token <name> [--ttl <seconds>]

Prints an operator token for the Admin API (send it as x-rockit-admin-token, or set
ROCKIT_ADMIN_TOKEN). It is signed with EDGE_ADMIN_SECRET from the environment when set,
otherwise with the local instance's secret in .dev.vars (made once by npm start or here).

Options:
  --ttl <seconds>   the token expires after this long (default: never)
  -h, --help        show this help`

/**
 * Mints an admin token for `name` with the given secret, or the local instance's.
 *
 * @example const token = await mintAdminToken('alice')
 */
export async function mintAdminToken(
  name: string,
  opts: { secret?: string; ttlSec?: number } = {},
): Promise<string> {
  if (!/^[A-Za-z0-9_.@-]{1,100}$/.test(name)) {
    throw new UsageError('the name may hold letters, digits, _ . @ - (1 to 100 characters)')
  }
  const secret = opts.secret ?? process.env.EDGE_ADMIN_SECRET ?? ensureLocalSecrets().adminSecret
  return signAdminToken(secret, name, opts.ttlSec)
}

/** `rockit admin-token`. */
export const adminToken: Command = {
  summary: 'print an admin token for the Admin API of the local instance',
  usage,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { ttl: { type: 'string' } },
    })
    if (positionals.length !== 1) throw new UsageError('give exactly one name')
    const ttlSec = values.ttl === undefined ? undefined : Number(values.ttl)
    if (ttlSec !== undefined && !(Number.isInteger(ttlSec) && ttlSec > 0)) {
      throw new UsageError('--ttl must be a whole number of seconds')
    }
    process.stdout.write(`${await mintAdminToken(positionals[0], { ttlSec })}\n`)
    return 0
  },
}
