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

function isPrivateIpv4([a, b]: number[]): boolean {
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

/** The eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 tail included). */
function ipv6Groups(host: string): number[] | null {
  let text = host
  const tail = text.match(/(\d+\.\d+\.\d+\.\d+)$/)
  if (tail) {
    const v4 = ipv4Parts(tail[1])
    if (!v4) return null
    text = `${text.slice(0, -tail[1].length)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const parse = (part: string) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [])
  const head = parse(halves[0])
  const rest = halves.length === 2 ? parse(halves[1]) : []
  const missing = 8 - head.length - rest.length
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null
  const groups = [...head, ...new Array(missing).fill(0), ...rest]
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null
}

function isPrivateIpv6(g: number[]): boolean {
  const embedded = [g[6] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff]
  const zeroPrefix = g.slice(0, 5).every((x) => x === 0)
  // ::, ::1, IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d): judge the IPv4 inside.
  if (zeroPrefix && (g[5] === 0 || g[5] === 0xffff)) {
    return (g[5] === 0 && g[6] === 0 && g[7] <= 1) || isPrivateIpv4(embedded)
  }
  // NAT64 (64:ff9b::/96) reaches the IPv4 inside; 64:ff9b:1::/48 is for local use.
  if (g[0] === 0x64 && g[1] === 0xff9b) return g[2] === 1 || isPrivateIpv4(embedded)
  return (
    (g[0] & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (g[0] & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (g[0] & 0xffc0) === 0xfec0 || // site-local fec0::/10
    (g[0] & 0xff00) === 0xff00 || // multicast
    (g[0] === 0x2001 && g[1] === 0x0db8) // documentation
  )
}

/** A host name as compared: lower case, without brackets or trailing dots. */
function canonicalHost(hostname: string): string {
  return hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.+$/, '')
}

/** True for loopback, private, link-local, unspecified and similar non-public hosts. */
export function isPrivateHost(hostname: string): boolean {
  const host = canonicalHost(hostname)
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')) return true
  if (host.endsWith('.internal')) return true

  const v4 = ipv4Parts(host)
  if (v4) return isPrivateIpv4(v4)
  if (host.includes(':')) {
    const groups = ipv6Groups(host)
    return groups === null || isPrivateIpv6(groups)
  }
  return false
}

function sameService(url: URL, selfUrl: string): boolean {
  try {
    const self = new URL(selfUrl)
    const port = (u: URL) => u.port || (u.protocol === 'https:' ? '443' : '80')
    return canonicalHost(self.hostname) === canonicalHost(url.hostname) && port(self) === port(url)
  } catch {
    return false
  }
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
  if (options.selfUrl && sameService(url, options.selfUrl)) {
    return 'must not point at this service itself'
  }
  if (!options.allowPrivateTargets && isPrivateHost(url.hostname)) {
    return 'must not point at a loopback, private or link-local address'
  }
  return null
}
