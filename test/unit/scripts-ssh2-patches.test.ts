import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { applySsh2Patches } from '../../scripts/ssh2-patches.mjs'

// The bundle is built from node_modules' ssh2 with these patches (scripts/bundle.mjs). Here the
// same patches are applied to a copy of ssh2's protocol folder, which is then loaded and used.
const require = createRequire(import.meta.url)
const protocolDir = path.dirname(require.resolve('ssh2/lib/protocol/crypto.js'))
const nodeCrypto = require('node:crypto') as typeof import('node:crypto')

interface Ssh2Crypto {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>
  MAC_INFO: Record<string, { len: number }>
  createCipher(config: unknown): { allocPacket(len: number): Buffer; encrypt(p: Buffer): void }
}

let dir: string
beforeAll(() => {
  // Inside node_modules, so the copy still finds ssh2's own dependencies.
  const cache = path.join(path.dirname(path.dirname(path.dirname(protocolDir))), '.cache')
  mkdirSync(cache, { recursive: true })
  dir = mkdtempSync(path.join(cache, 'unit-ssh2-patches-'))
  cpSync(protocolDir, dir, { recursive: true })
  // ssh2 is CommonJS; the project's own package.json says "module".
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "commonjs" }\n')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Loads crypto.js (patched or as installed) with randomFillSync recorded. */
function loadCrypto(patched: boolean): { crypto: Ssh2Crypto; fills: Buffer[] } {
  const source = readFileSync(path.join(protocolDir, 'crypto.js'), 'utf8')
  const file = path.join(dir, `crypto-${patched ? 'patched' : 'stock'}.js`)
  writeFileSync(file, patched ? applySsh2Patches(source, 'ssh2/lib/protocol/crypto.js') : source)
  const fills: Buffer[] = []
  const original = nodeCrypto.randomFillSync
  // crypto.js takes randomFillSync from the module object once, when it is loaded.
  nodeCrypto.randomFillSync = (<T extends NodeJS.ArrayBufferView>(buf: T, ...rest: number[]): T => {
    const out = original(buf, ...rest)
    const [offset = 0, size = buf.byteLength - offset] = rest
    // A copy: the pool is refilled in place.
    fills.push(Buffer.from(new Uint8Array(buf.buffer, buf.byteOffset + offset, size)))
    return out
  }) as typeof original
  try {
    return { crypto: require(file) as Ssh2Crypto, fills }
  } finally {
    nodeCrypto.randomFillSync = original
  }
}

/**
 * Encrypts `count` packets with aes128-ctr + hmac-sha2-256-etm (a stream cipher, so the padding
 * can be read back with a plain AES-CTR decipher) and returns each packet's padding.
 */
function paddingsOf(crypto: Ssh2Crypto, count: number, payloadLen: (i: number) => number) {
  const cipherInfo = crypto.CIPHER_INFO['aes128-ctr']
  const macInfo = crypto.MAC_INFO['hmac-sha2-256-etm@openssh.com']
  const key = nodeCrypto.randomBytes(cipherInfo.keyLen)
  const iv = nodeCrypto.randomBytes(cipherInfo.ivLen)
  const wire: Buffer[] = []
  const cipher = crypto.createCipher({
    outbound: {
      onWrite: (chunk: Uint8Array) => wire.push(Buffer.from(chunk)),
      cipherInfo,
      cipherKey: key,
      cipherIV: Buffer.from(iv),
      seqno: 0,
      macInfo,
      macKey: nodeCrypto.randomBytes(macInfo.len),
      forceNative: true
    }
  })
  const decipher = nodeCrypto.createDecipheriv('aes-128-ctr', key, iv)
  const paddings: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const len = payloadLen(i)
    const packet = cipher.allocPacket(len)
    packet.fill(i & 0xff, 5, 5 + len)
    wire.length = 0
    cipher.encrypt(packet)
    // ETM: clear length, encrypted (pad length, payload, padding), MAC.
    const [lenBytes, encrypted] = wire
    const plain = decipher.update(encrypted)
    expect(lenBytes.readUInt32BE(0)).toBe(plain.length)
    const padLen = plain[0]
    expect(plain.subarray(1, 1 + len).every(b => b === (i & 0xff))).toBe(true)
    paddings.push(plain.subarray(1 + len, 1 + len + padLen))
  }
  return paddings
}

describe('ssh2 patch: pooled random padding', () => {
  it('applies to the installed ssh2 exactly where expected', () => {
    const source = readFileSync(path.join(protocolDir, 'crypto.js'), 'utf8')
    const patched = applySsh2Patches(source, 'ssh2/lib/protocol/crypto.js')
    expect(patched).not.toContain('randomFillSync(packet')
    expect(patched.split('randomPadding(packet, 5 + payloadLen, padLen)').length - 1).toBe(7)
    expect(() => applySsh2Patches(patched, 'ssh2/lib/protocol/crypto.js')).toThrow(
      /expected 7 occurrence\(s\).*found 0/
    )
  })

  it('draws each packet padding once from the CSPRNG, many packets per draw', () => {
    const { crypto, fills } = loadCrypto(true)
    const sizes = (i: number): number => [32768 + 9, 13, 261120 % 32768, 0, 100][i % 5]
    const paddings = paddingsOf(crypto, 5000, sizes)
    // 5000 packets, 4 to 19 bytes each: a handful of 16 KiB draws, not one per packet.
    expect(fills.length).toBeLessThan(10)
    expect(fills.every(f => f.length === 16384)).toBe(true)
    // Every padding is the next unused stretch of the latest draw: fresh bytes, never reused.
    let draw = -1
    let pos = 16384
    for (const padding of paddings) {
      expect(padding.length).toBeGreaterThanOrEqual(4)
      if (pos + padding.length > 16384) {
        draw += 1
        pos = 0
      }
      expect(padding).toEqual(fills[draw].subarray(pos, pos + padding.length))
      pos += padding.length
    }
    expect(draw).toBe(fills.length - 1)
  })

  it('is needed: ssh2 as installed draws randomness for every packet', () => {
    const { crypto, fills } = loadCrypto(false)
    paddingsOf(crypto, 500, () => 32768 + 9)
    expect(fills.length).toBe(500)
  })
})

describe('ssh2 patch: reused AES-GCM plaintext packet', () => {
  interface Decipher {
    decrypt(data: Buffer, p: number, len: number): unknown
  }
  function gcmPair(crypto: Ssh2Crypto) {
    const cipherInfo = crypto.CIPHER_INFO['aes128-gcm@openssh.com']
    const key = nodeCrypto.randomBytes(cipherInfo.keyLen)
    const iv = nodeCrypto.randomBytes(cipherInfo.ivLen)
    // Everything written is kept, as a corked socket keeps it until the end of the tick.
    const wire: Buffer[] = []
    const cipher = crypto.createCipher({
      outbound: {
        onWrite: (chunk: Buffer) => wire.push(chunk),
        cipherInfo,
        cipherKey: key,
        cipherIV: Buffer.from(iv),
        seqno: 0,
        forceNative: true
      }
    })
    const payloads: Buffer[] = []
    // The receiving side is ssh2 as installed.
    const stock = require('ssh2/lib/protocol/crypto.js') as {
      createDecipher(config: unknown): Decipher
    }
    const decipher = stock.createDecipher({
      inbound: {
        onPayload: (payload: Buffer) => void payloads.push(Buffer.from(payload)),
        decipherInfo: cipherInfo,
        decipherKey: key,
        decipherIV: Buffer.from(iv),
        seqno: 0,
        forceNative: true
      }
    })
    return { cipher, wire, payloads, decipher }
  }

  function send(cipher: Ssh2Crypto['createCipher'] extends (c: unknown) => infer C ? C : never) {
    return (payload: Buffer): Buffer => {
      const packet = cipher.allocPacket(payload.length)
      payload.copy(packet, 5)
      cipher.encrypt(packet)
      return packet
    }
  }

  it('sends every packet intact while one buffer carries them all', () => {
    const { crypto } = loadCrypto(true)
    const { cipher, wire, payloads, decipher } = gcmPair(crypto)
    const sent: Buffer[] = []
    const buffers = new Set<ArrayBufferLike>()
    for (let i = 0; i < 300; i++) {
      const payload = nodeCrypto.randomBytes([32768 + 9, 40, 1000, 32000][i % 4])
      sent.push(payload)
      buffers.add(send(cipher)(payload).buffer)
    }
    expect(buffers.size).toBe(1)
    // Decrypted only now, after all 300 were written: nothing written was overwritten later.
    const all = Buffer.concat(wire)
    decipher.decrypt(all, 0, all.length)
    expect(payloads).toEqual(sent)
  })

  it('never hands out the buffer twice before the first packet is encrypted', () => {
    const { crypto } = loadCrypto(true)
    const { cipher, wire, payloads, decipher } = gcmPair(crypto)
    const first = cipher.allocPacket(100)
    const second = cipher.allocPacket(100)
    expect(second.buffer).not.toBe(first.buffer)
    // Larger than any SSH packet ssh2 receives: not from the reused buffer either.
    const huge = cipher.allocPacket(40000)
    expect(huge.buffer).not.toBe(first.buffer)
    const a = nodeCrypto.randomBytes(100)
    const b = nodeCrypto.randomBytes(100)
    a.copy(first, 5)
    b.copy(second, 5)
    cipher.encrypt(second)
    cipher.encrypt(first)
    // Once encrypted, the reused buffer is free again.
    const c = nodeCrypto.randomBytes(50)
    const third = send(cipher)(c)
    expect(third.buffer).toBe(first.buffer)
    const all = Buffer.concat(wire)
    decipher.decrypt(all, 0, all.length)
    expect(payloads).toEqual([b, a, c])
  })

  it('is needed: ssh2 as installed allocates every packet anew', () => {
    const { crypto } = loadCrypto(false)
    const { cipher } = gcmPair(crypto)
    const buffers = new Set<ArrayBufferLike>()
    for (let i = 0; i < 10; i++) buffers.add(send(cipher)(Buffer.alloc(32768)).buffer)
    expect(buffers.size).toBe(10)
  })
})
