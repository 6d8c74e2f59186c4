/** `npm run admin-token -- <name>`: prints an admin token for the local instance. */
import { signAdminToken } from '../src/domain/auth/admin-token'
import { ensureLocalSecrets } from './local-secrets'

const name = process.argv[2]
if (!name || !/^[A-Za-z0-9_.@-]{1,100}$/.test(name)) {
  console.error('usage: npm run admin-token -- <your-name>   (letters, digits, _ . @ -)')
  process.exit(2)
}
const { adminSecret } = ensureLocalSecrets()
console.log(await signAdminToken(adminSecret, name))
