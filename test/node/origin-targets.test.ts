/**
 * Which origin endpoints a deployment may name. The worker tests run with ALLOW_PRIVATE_TARGETS
 * on (their origins live on loopback), so the refusal of private targets is tested here on the
 * pure functions, with the setting off as in a deployed instance.
 */
import { describe, expect, it } from 'vitest'
import { normaliseEndpoint } from '../../src/domain/deployments/origin-settings'
import { targetProblem } from '../../src/domain/net/target-check'

const deployed = { allowPrivateTargets: false, selfUrl: 'https://edge.example.com' }
const local = { allowPrivateTargets: true, selfUrl: 'http://127.0.0.1:8787' }

describe('origin endpoints', () => {
  it('refuses loopback, private and link-local endpoints when private targets are off', () => {
    for (const endpoint of [
      'http://127.0.0.1:9000',
      'localhost:9000',
      '10.1.2.3',
      '192.168.1.20',
      'http://169.254.169.254',
      'http://[::1]:9000',
      'minio.internal',
    ]) {
      const result = normaliseEndpoint(endpoint, deployed)
      expect(result, endpoint).toEqual({
        problem: 'must not point at a loopback, private or link-local address',
      })
      expect(
        targetProblem(endpoint.includes('://') ? endpoint : `https://${endpoint}`, deployed),
      ).not.toBeNull()
    }
  })

  it('accepts the same loopback endpoint when private targets are on', () => {
    expect(normaliseEndpoint('http://127.0.0.1:9000', local)).toEqual({
      url: 'http://127.0.0.1:9000',
    })
  })

  it('makes a bare host HTTPS and keeps scheme and port of a full URL', () => {
    expect(normaliseEndpoint('s3.us-east-1.amazonaws.com', deployed)).toEqual({
      url: 'https://s3.us-east-1.amazonaws.com',
    })
    expect(normaliseEndpoint('https://storage.example.com:8443/', deployed)).toEqual({
      url: 'https://storage.example.com:8443',
    })
  })

  it('refuses an endpoint holding the bucket, a path, a query, another scheme or the service', () => {
    const problem = (raw: string, bucket?: string) => {
      const result = normaliseEndpoint(raw, deployed, bucket)
      return 'problem' in result ? result.problem : null
    }
    expect(problem('https://s3.example.com/games')).toMatch(/path/)
    expect(problem('games.s3.example.com', 'games')).toMatch(/bucket/)
    expect(problem('https://s3.example.com/?x=1')).toMatch(/query/)
    expect(problem('ftp://s3.example.com')).toMatch(/http/)
    expect(problem('https://edge.example.com')).toMatch(/itself/)
    expect(problem('s3.example.com', 'games')).toBeNull()
  })
})

describe('target rule edge cases', () => {
  it('refuses disguised loopback and private IPv6 forms and trailing dots', () => {
    for (const url of [
      'http://localhost./',
      'http://LOCALHOST:80/',
      'http://[::7f00:1]/',
      'http://[::127.0.0.1]/',
      'http://[::ffff:10.0.0.1]/',
      'http://[64:ff9b::a00:1]/',
      'http://[64:ff9b:1::1]/',
      'http://[fec0::1]/',
      'http://[fd12:3456::1]/',
      'http://[fe80::1]/',
      'http://[::]/',
    ]) {
      expect(targetProblem(url, deployed), url).toBe(
        'must not point at a loopback, private or link-local address',
      )
    }
  })

  it('refuses the service itself under another spelling of its host', () => {
    for (const url of ['https://edge.example.com./hook', 'https://EDGE.example.com:443/hook']) {
      expect(targetProblem(url, deployed), url).toBe('must not point at this service itself')
    }
  })

  it('accepts public addresses, NAT64 of a public address included', () => {
    for (const url of [
      'https://hooks.example.org/x',
      'http://[2606:4700::6810:85e5]/',
      'http://[64:ff9b::808:808]/',
      'http://8.8.8.8/',
    ]) {
      expect(targetProblem(url, deployed), url).toBeNull()
    }
  })
})
