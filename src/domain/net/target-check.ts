/**
 * The rule for URLs the service calls on a publisher's behalf (build downloads, S3 endpoints,
 * webhooks): http(s) only, and no loopback, private, link-local or own-instance targets unless
 * the instance setting `ALLOW_PRIVATE_TARGETS` is on (the local instance turns it on).
 * Host names are checked as written; a public name that resolves to a private address cannot be
 * caught here (Workers have no DNS API) and is left to the platform's egress rules.
 */

export interface TargetCheckOptions {
  allowPrivateTargets: boolean
  /** The instance's own public URL; calls to itself are refused. */
  selfUrl?: string
}

function ipv4Parts(host: string): number[] | null {
  const parts = host.split('.')
  if (parts.length !== 4) return null
  const numbers = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN))
  return numbers.every((n) => n >= 0 && n <= 255) ? numbers : null
}

/** True for loopback, private, link-local, unspecified and similar non-public hosts. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '')
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')) return true
  if (host.endsWith('.internal')) return true

  const v4 = ipv4Parts(host)
  if (v4) {
    const [a, b] = v4
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 198 && (b === 18 || b === 19)) ||
      a >= 224
    )
  }

  if (host.includes(':')) {
    const mapped = host.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/)
    if (mapped) return isPrivateHost(mapped[1])
    return (
      host === '::' ||
      host === '::1' ||
      host.startsWith('fc') ||
      host.startsWith('fd') ||
      /^fe[89ab]/.test(host) ||
      host.startsWith('::ffff:')
    )
  }
  return false
}

/**
 * Returns the reason a URL may not be called, or null when it may. `field` names the request
 * field for the 400 the caller raises.
 */
export function targetProblem(raw: string, options: TargetCheckOptions): string | null {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return 'must be an absolute http(s) URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https'
  if (url.username || url.password) return 'must not carry credentials in the URL'
  if (options.selfUrl) {
    try {
      if (new URL(options.selfUrl).host === url.host) return 'must not point at this service itself'
    } catch {
      // no usable self URL configured: nothing to compare with
    }
  }
  if (!options.allowPrivateTargets && isPrivateHost(url.hostname)) {
    return 'must not point at a loopback, private or link-local address'
  }
  return null
}
