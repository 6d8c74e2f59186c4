/**
 * SHA-256 (FIPS 180-4) whose running state is plain JSON, so one hash can span many task steps.
 * WebCrypto only digests whole buffers; an image of 100 GB is written over hundreds of steps and
 * its hash must carry from one to the next through the task cursor.
 */

/** The state between two steps: eight chaining words, the unprocessed tail, the length so far. */
export interface Sha256State {
  h: number[]
  /** Standard base64 of the bytes after the last full 64-byte block (0..63 bytes). */
  tail: string
  bytes: number
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
])

const INITIAL = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/**
 * An incremental SHA-256.
 *
 * @example
 * const hash = new ResumableSha256(cursor.sha)  // or no argument to start
 * hash.update(bytes)
 * cursor.sha = hash.save()                       // ... next step: new ResumableSha256(cursor.sha)
 * hash.hex()                                     // once, after the last update
 */
export class ResumableSha256 {
  private readonly h = new Int32Array(8)
  private readonly w = new Int32Array(64)
  private readonly block = new Uint8Array(64)
  private fill = 0
  private bytes = 0

  constructor(state?: Sha256State) {
    this.h.set(state?.h ?? INITIAL)
    if (state) {
      const tail = fromBase64(state.tail)
      if (tail.length >= 64) throw new RangeError('sha256 state tail must be under 64 bytes')
      this.block.set(tail)
      this.fill = tail.length
      this.bytes = state.bytes
    }
  }

  /** Adds bytes to the message. */
  update(data: Uint8Array): this {
    let at = 0
    this.bytes += data.length
    if (this.fill > 0) {
      const take = Math.min(64 - this.fill, data.length)
      this.block.set(data.subarray(0, take), this.fill)
      this.fill += take
      at = take
      if (this.fill < 64) return this
      this.compress(this.block, 0)
      this.fill = 0
    }
    while (data.length - at >= 64) {
      this.compress(data, at)
      at += 64
    }
    if (at < data.length) {
      this.block.set(data.subarray(at), 0)
      this.fill = data.length - at
    }
    return this
  }

  /** The state to resume from in a later step. */
  save(): Sha256State {
    return {
      h: Array.from(this.h, (word) => word >>> 0),
      tail: toBase64(this.block.subarray(0, this.fill)),
      bytes: this.bytes,
    }
  }

  /** The digest as lowercase hex. Ends this hash: do not update it afterwards. */
  hex(): string {
    const bits = this.bytes * 8
    const padding = new Uint8Array((this.fill < 56 ? 56 : 120) - this.fill + 8)
    padding[0] = 0x80
    const view = new DataView(padding.buffer)
    view.setUint32(padding.length - 8, Math.floor(bits / 2 ** 32))
    view.setUint32(padding.length - 4, bits >>> 0)
    const total = this.bytes
    this.update(padding)
    this.bytes = total
    return Array.from(this.h, (word) => (word >>> 0).toString(16).padStart(8, '0')).join('')
  }

  private compress(data: Uint8Array, at: number) {
    const w = this.w
    for (let i = 0; i < 16; i++) {
      const j = at + i * 4
      w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3]
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]
      const y = w[i - 2]
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0
    }
    const h = this.h
    let a = h[0]
    let b = h[1]
    let c = h[2]
    let d = h[3]
    let e = h[4]
    let f = h[5]
    let g = h[6]
    let k = h[7]
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
      const ch = (e & f) ^ (~e & g)
      const t1 = (k + S1 + ch + K[i] + w[i]) | 0
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
      const maj = (a & b) ^ (a & c) ^ (b & c)
      const t2 = (S0 + maj) | 0
      k = g
      g = f
      f = e
      e = (d + t1) | 0
      d = c
      c = b
      b = a
      a = (t1 + t2) | 0
    }
    h[0] = (h[0] + a) | 0
    h[1] = (h[1] + b) | 0
    h[2] = (h[2] + c) | 0
    h[3] = (h[3] + d) | 0
    h[4] = (h[4] + e) | 0
    h[5] = (h[5] + f) | 0
    h[6] = (h[6] + g) | 0
    h[7] = (h[7] + k) | 0
  }
}
