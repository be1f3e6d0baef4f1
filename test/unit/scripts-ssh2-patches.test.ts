import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { jest } from '@jest/globals'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import type ssh2 from 'ssh2'
import { applySsh2Patches } from '../../scripts/ssh2-patches.mjs'
import { BufferPool, WRITE_HEADROOM } from '../../src/engine/buffer-pool.js'
import { SftpChannel } from '../../src/engine/sftp.js'

// The bundle is built from node_modules' ssh2 with these patches (scripts/bundle.mjs). Here the
// same patches are applied to a copy of ssh2's protocol folder, which is then loaded and used.
const require = createRequire(import.meta.url)
const protocolDir = path.dirname(require.resolve('ssh2/lib/protocol/crypto.js'))
const MiB = 1024 * 1024
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

/** Loads SFTP.js from the copy, patched or as installed. */
function loadSftp(patched: boolean): new (client: unknown, chanInfo: unknown) => FakeSftp {
  const source = readFileSync(path.join(protocolDir, 'SFTP.js'), 'utf8')
  const file = path.join(dir, `SFTP-${patched ? 'patched' : 'stock'}.js`)
  writeFileSync(file, patched ? applySsh2Patches(source, 'ssh2/lib/protocol/SFTP.js') : source)
  return (require(file) as { SFTP: new (client: unknown, chanInfo: unknown) => FakeSftp }).SFTP
}

/** An SFTP client channel (patched or as installed) over `protocol`, ssh2's SSH layer. */
function sftpOn<T>(patched: boolean, protocol: object, window = 2 ** 21): T {
  const SFTP = loadSftp(patched) as unknown as new (client: unknown, chanInfo: unknown) => T
  return new SFTP(
    { _protocol: protocol },
    {
      type: 'sftp',
      incoming: { id: 0, window: 2 ** 21, packetSize: 32768, state: 'open' },
      outgoing: { id: 7, window, packetSize: 32768, state: 'open' }
    }
  )
}

/** A client past the version exchange, whose requests go nowhere. */
function versionedClient<T extends { push(data: Buffer): void }>(patched: boolean): T {
  const sftp = sftpOn<T>(patched, { channelData: () => undefined })
  // SSH_FXP_VERSION 3, no extensions.
  sftp.push(Buffer.from([0, 0, 0, 5, 2, 0, 0, 0, 3]))
  return sftp
}

interface FakeSftp {
  outgoing: { window: number }
  _chunkcb?: () => void
  write(handle: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: () => void): void
}

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
 * ssh2's own outbound cipher with fresh keys; what it writes is collected in `wire`, copied, or
 * with `asWritten` kept as the very buffers written (as a corked socket keeps them until the end
 * of the tick).
 */
function outboundCipher(
  crypto: Ssh2Crypto,
  cipherName: string,
  { macName, asWritten = false }: { macName?: string; asWritten?: boolean } = {}
) {
  const cipherInfo = crypto.CIPHER_INFO[cipherName]
  const macInfo = macName === undefined ? undefined : crypto.MAC_INFO[macName]
  const key = nodeCrypto.randomBytes(cipherInfo.keyLen)
  const iv = nodeCrypto.randomBytes(cipherInfo.ivLen)
  const wire: Buffer[] = []
  const cipher = crypto.createCipher({
    outbound: {
      onWrite: (chunk: Buffer) => wire.push(asWritten ? chunk : Buffer.from(chunk)),
      cipherInfo,
      cipherKey: key,
      cipherIV: Buffer.from(iv),
      seqno: 0,
      ...(macInfo && { macInfo, macKey: nodeCrypto.randomBytes(macInfo.len) }),
      forceNative: true
    }
  })
  return { cipher, cipherInfo, key, iv, wire }
}

/**
 * Encrypts `count` packets with aes128-ctr + hmac-sha2-256-etm (a stream cipher, so the padding
 * can be read back with a plain AES-CTR decipher) and returns each packet's padding.
 */
function paddingsOf(crypto: Ssh2Crypto, count: number, payloadLen: (i: number) => number) {
  const { cipher, key, iv, wire } = outboundCipher(crypto, 'aes128-ctr', {
    macName: 'hmac-sha2-256-etm@openssh.com'
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
    expect(plain.subarray(1, 1 + len).equals(Buffer.alloc(len, i & 0xff))).toBe(true)
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
    const sizes = (i: number): number => [32768 + 9, 13, 1000, 0, 100][i % 5]
    const paddings = paddingsOf(crypto, 3000, sizes)
    // 3000 packets, 4 to 19 bytes each: a few 16 KiB draws, not one per packet.
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
    const { cipher, cipherInfo, key, iv, wire } = outboundCipher(crypto, 'aes128-gcm@openssh.com', {
      asWritten: true
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
    // Buffer.equals: jest's toEqual walks 10 MB byte by byte.
    expect(payloads.length).toBe(sent.length)
    expect(payloads.every((p, i) => p.equals(sent[i]))).toBe(true)
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

describe('ssh2 patch: one AES-GCM decipher update per packet', () => {
  interface Decipher {
    decrypt(data: Buffer, p: number, len: number): unknown
  }
  type Crypto = Ssh2Crypto & { createDecipher(config: unknown): Decipher }

  /** Loads crypto.js (patched or as installed), counting the update() calls of its deciphers. */
  function loadCounting(patched: boolean): { crypto: Crypto; updates: () => number } {
    const source = readFileSync(path.join(protocolDir, 'crypto.js'), 'utf8')
    const file = path.join(dir, `crypto-${patched ? 'patched' : 'stock'}-counting.js`)
    writeFileSync(file, patched ? applySsh2Patches(source, 'ssh2/lib/protocol/crypto.js') : source)
    let updates = 0
    const original = nodeCrypto.createDecipheriv
    // crypto.js takes createDecipheriv from the module object once, when it is loaded.
    nodeCrypto.createDecipheriv = ((...args: Parameters<typeof original>) => {
      const decipher = original(...args)
      const update = decipher.update.bind(decipher) as (data: Buffer) => Buffer
      decipher.update = ((data: Buffer) => {
        updates++
        return update(data)
      }) as typeof decipher.update
      return decipher
    }) as typeof original
    try {
      return { crypto: require(file) as Crypto, updates: () => updates }
    } finally {
      nodeCrypto.createDecipheriv = original
    }
  }

  /** `payloads` sealed with aes128-gcm by ssh2's own cipher: what the server sends. */
  function sealed(crypto: Ssh2Crypto, payloads: Buffer[]) {
    const { cipher, cipherInfo, key, iv, wire } = outboundCipher(crypto, 'aes128-gcm@openssh.com')
    for (const payload of payloads) {
      const packet = cipher.allocPacket(payload.length)
      payload.copy(packet, 5)
      cipher.encrypt(packet)
    }
    return { wire: Buffer.concat(wire), cipherInfo, key, iv }
  }

  /** Feeds `wire` to a decipher in pieces of the given sizes (cycled); returns the payloads. */
  function receive(
    crypto: Crypto,
    { wire, cipherInfo, key, iv }: ReturnType<typeof sealed>,
    pieces: number[]
  ): Buffer[] {
    const received: Buffer[] = []
    const decipher = crypto.createDecipher({
      inbound: {
        onPayload: (payload: Buffer) => void received.push(Buffer.from(payload)),
        decipherInfo: cipherInfo,
        decipherKey: key,
        decipherIV: Buffer.from(iv),
        seqno: 0,
        forceNative: true
      }
    })
    for (let p = 0, i = 0; p < wire.length; i++) {
      // A fresh buffer per piece, as each socket read brings one.
      const piece = Buffer.from(wire.subarray(p, p + pieces[i % pieces.length]))
      decipher.decrypt(piece, 0, piece.length)
      p += piece.length
    }
    return received
  }

  const sizes = [32768 + 9, 13, 1000, 32000, 16, 32768 + 9]
  const payloads = Array.from({ length: 120 }, (_, i) => nodeCrypto.randomBytes(sizes[i % 6]))

  it('decrypts every packet with one update(), however the reads cut the stream', () => {
    const { crypto, updates } = loadCounting(true)
    const stream = sealed(crypto, payloads)
    // Socket-sized reads, reads that end inside a length or a tag, and one byte at a time.
    for (const pieces of [[65536], [65536, 3, 17, 40000, 1], [7, 1, 2, 33000], [1]]) {
      const before = updates()
      const got = receive(crypto, stream, pieces)
      expect(got.length).toBe(payloads.length)
      expect(got.every((g, i) => g.equals(payloads[i]))).toBe(true)
      expect(updates() - before).toBe(payloads.length)
    }
  })

  it('refuses a packet whose body or tag was altered, and delivers nothing of it', () => {
    const { crypto } = loadCounting(true)
    const stream = sealed(crypto, payloads.slice(0, 3))
    // Length (4 bytes, clear), padding length, payload and at least 4 bytes of padding in
    // 16-byte blocks, then the 16-byte tag.
    const body = (len: number): number => 16 * Math.ceil((1 + len + 4) / 16)
    const first = 4 + body(payloads[0].length) + 16
    const second = 4 + body(payloads[1].length)
    // The second packet: a byte of its body, then a byte of its tag.
    for (const at of [first + 10, first + second + 3]) {
      const wire = Buffer.from(stream.wire)
      wire[at] ^= 1
      const got: Buffer[] = []
      expect(() => got.push(...receive(crypto, { ...stream, wire }, [65536, 5000, 1, 30]))).toThrow(
        /authenticate/
      )
      expect(got).toEqual([])
    }
  })

  it('is needed: ssh2 as installed decrypts a packet cut by a read in two update() calls', () => {
    const { crypto, updates } = loadCounting(false)
    const stream = sealed(crypto, payloads)
    const got = receive(crypto, stream, [65536])
    expect(got.every((g, i) => g.equals(payloads[i]))).toBe(true)
    expect(updates()).toBeGreaterThan(payloads.length)
  })
})

describe('ssh2 patch: reused SFTP write request buffer', () => {
  const handle = Buffer.from('h1')
  /** An SFTP client channel whose SSH layer records what it is given. */
  function channel(patched: boolean, window: number) {
    const sent: Array<{ data: Buffer; buffer: ArrayBufferLike }> = []
    const protocol = {
      // ssh2's channelData copies the data into an SSH packet before returning.
      channelData: (_id: number, data: Buffer) =>
        void sent.push({ data: Buffer.from(data), buffer: data.buffer })
    }
    const sftp = sftpOn<FakeSftp>(patched, protocol, window)
    return { sftp, sent }
  }
  /** The data of the WRITE requests in what was sent, in order. */
  function writtenData(sent: Array<{ data: Buffer }>): Buffer[] {
    const stream = Buffer.concat(sent.map(s => s.data))
    const out: Buffer[] = []
    for (let p = 0; p < stream.length;) {
      const len = stream.readUInt32BE(p)
      const request = stream.subarray(p + 4, p + 4 + len)
      expect(request[0]).toBe(6) // SSH_FXP_WRITE
      const handleLen = request.readUInt32BE(5)
      const dataAt = 9 + handleLen + 8
      out.push(request.subarray(dataAt + 4, dataAt + 4 + request.readUInt32BE(dataAt)))
      p += 4 + len
    }
    return out
  }

  it('reuses a request buffer once it is sent, and only then', () => {
    // Without an OpenSSH ident ssh2 writes at most 31,979 bytes per request.
    const { sftp, sent } = channel(true, 50_000)
    const data = [0, 1, 2, 3].map(() => nodeCrypto.randomBytes(30_000))
    // The first fits the window and goes at once; the second only in part.
    sftp.write(handle, data[0], 0, data[0].length, 0, () => undefined)
    sftp.write(handle, data[1], 0, data[1].length, 30_000, () => undefined)
    const first = sent[0].buffer
    const second = sent[sent.length - 1].buffer
    expect(second).toBe(first)
    // The rest of the second waits in the queue: a third must not share its buffer.
    sftp.write(handle, data[2], 0, data[2].length, 60_000, () => undefined)
    sftp.outgoing.window += 1_000_000
    sftp._chunkcb?.()
    const third = sent[sent.length - 1].buffer
    expect(third).not.toBe(second)
    // Both queued requests are out now; their buffers serve again.
    sftp.write(handle, data[3], 0, data[3].length, 90_000, () => undefined)
    expect([second, third]).toContain(sent[sent.length - 1].buffer)
    const written = writtenData(sent)
    expect(written.length).toBe(data.length)
    expect(written.every((w, i) => w.equals(data[i]))).toBe(true)
  })

  it('is needed: ssh2 as installed allocates every request anew', () => {
    const { sftp, sent } = channel(false, 10_000_000)
    for (let i = 0; i < 5; i++)
      sftp.write(handle, Buffer.alloc(30_000, i), 0, 30_000, i * 30_000, () => undefined)
    expect(new Set(sent.map(s => s.buffer)).size).toBe(5)
  })
})

describe('ssh2 patch: reused SFTP response reassembly buffer', () => {
  interface ReadingSftp {
    _maxReadLen: number
    push(data: Buffer): void
    read(
      handle: Buffer,
      buf: Buffer,
      off: number,
      len: number,
      pos: number,
      cb: (err: Error | undefined, n: number) => void
    ): void
    open(path: string, flags: string, cb: (err: Error | undefined, handle: Buffer) => void): void
  }
  function client(patched: boolean): ReadingSftp {
    return versionedClient<ReadingSftp>(patched)
  }
  /** An SFTP packet of `type` for request `id`, with `body` as its one string. */
  function response(type: number, id: number, body: Buffer): Buffer {
    const head = Buffer.alloc(13)
    head.writeUInt32BE(9 + body.length, 0)
    head[4] = type
    head.writeUInt32BE(id, 5)
    head.writeUInt32BE(body.length, 9)
    return Buffer.concat([head, body])
  }
  /** Delivered in pieces, as SSH packets bring it: the response must be put together. */
  function pushInPieces(sftp: ReadingSftp, packet: Buffer, piece = 7_000): void {
    for (let p = 0; p < packet.length; p += piece) sftp.push(packet.subarray(p, p + piece))
  }
  /** Counts allocations of response-sized buffers while `work` runs. */
  function bigAllocations(work: () => void): number {
    let count = 0
    const unsafe = Buffer.allocUnsafe.bind(Buffer)
    const slow = Buffer.allocUnsafeSlow.bind(Buffer)
    const a = jest.spyOn(Buffer, 'allocUnsafe').mockImplementation(n => {
      if (n >= 20_000) count++
      return unsafe(n)
    })
    const b = jest.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation(n => {
      if (n >= 20_000) count++
      return slow(n)
    })
    try {
      work()
    } finally {
      a.mockRestore()
      b.mockRestore()
    }
    return count
  }
  const handle = Buffer.from('h1')
  /** Response-sized buffers ssh2 allocated while answers came in. */
  let allocated = 0
  /** Reads `data.length` bytes at request id `id`, answered with `data` in pieces. */
  function readAnswered(sftp: ReadingSftp, id: number, data: Buffer): Buffer {
    const into = Buffer.alloc(data.length)
    let got = -1
    sftp.read(handle, into, 0, data.length, 0, (err, n) => {
      if (err) throw err
      got = n
    })
    const packet = response(103, id, data)
    allocated += bigAllocations(() => pushInPieces(sftp, packet))
    expect(got).toBe(data.length)
    return into
  }
  beforeEach(() => {
    allocated = 0
  })

  it('puts every DATA answer together in one buffer, and reads each intact', () => {
    const sftp = client(true)
    const sent = [0, 1, 2, 3, 4].map(() => nodeCrypto.randomBytes(30_000))
    const read = sent.map((data, id) => readAnswered(sftp, id, data))
    // One reassembly buffer for the five answers.
    expect(allocated).toBe(1)
    expect(read.every((r, i) => r.equals(sent[i]))).toBe(true)
  })

  it('never reuses the buffer of an answer a caller may keep a slice of', () => {
    const sftp = client(true)
    // A HANDLE answer bigger than a piece: ssh2 hands out a slice of its buffer as the handle.
    const handleBytes = nodeCrypto.randomBytes(40_000)
    let opened: Buffer | undefined
    sftp.open('/f', 'r', (err, h) => {
      if (err) throw err
      opened = h
    })
    pushInPieces(sftp, response(102, 0, handleBytes))
    expect(opened?.equals(handleBytes)).toBe(true)
    // Later answers are put together elsewhere: the handle is not overwritten.
    const data = nodeCrypto.randomBytes(30_000)
    expect(readAnswered(sftp, 1, data).equals(data)).toBe(true)
    expect(readAnswered(sftp, 2, data).equals(data)).toBe(true)
    expect(opened?.equals(handleBytes)).toBe(true)
    // The handle's answer was not taken back; the next answer got a buffer of its own.
    expect(allocated).toBe(1)
  })

  it('is needed: ssh2 as installed allocates every answer anew', () => {
    const sftp = client(false)
    for (let id = 0; id < 5; id++) readAnswered(sftp, id, nodeCrypto.randomBytes(30_000))
    expect(allocated).toBe(5)
  })
})

describe('ssh2 patch: SFTP write request built in the room before the data', () => {
  const handle = Buffer.from('h1')
  // 4 length, 1 type, 4 id, 4 + 2 handle, 8 offset, 4 data length.
  const headLen = 4 + 1 + 4 + 4 + handle.length + 8 + 4
  interface InPlaceSftp extends FakeSftp {
    writeInPlace?(handle: Buffer, buf: Buffer, pos: number, cb: () => void): void
  }
  function channel(patched: boolean, window: number) {
    const sent: Array<{ data: Buffer; buffer: ArrayBufferLike; byteOffset: number }> = []
    const protocol = {
      channelData: (_id: number, data: Buffer) =>
        void sent.push({
          data: Buffer.from(data),
          buffer: data.buffer,
          byteOffset: data.byteOffset
        })
    }
    const sftp = sftpOn<InPlaceSftp>(patched, protocol, window)
    return { sftp, sent }
  }
  /** Each WRITE request in what was sent: its offset and data. */
  function writes(sent: Array<{ data: Buffer }>): Array<{ offset: number; data: Buffer }> {
    const stream = Buffer.concat(sent.map(s => s.data))
    const out: Array<{ offset: number; data: Buffer }> = []
    for (let p = 0; p < stream.length;) {
      const len = stream.readUInt32BE(p)
      const request = stream.subarray(p + 4, p + 4 + len)
      expect(request[0]).toBe(6) // SSH_FXP_WRITE
      const handleLen = request.readUInt32BE(5)
      expect(request.subarray(9, 9 + handleLen).equals(handle)).toBe(true)
      const at = 9 + handleLen
      const offset = Number(request.readBigUInt64BE(at))
      out.push({ offset, data: request.subarray(at + 12, at + 12 + request.readUInt32BE(at + 8)) })
      p += 4 + len
    }
    return out
  }
  /** `length` random bytes `room` bytes into a buffer whose room is filled with 0xee. */
  function chunkWithRoom(room: number, length: number) {
    const memory = Buffer.alloc(room + length, 0xee)
    const chunk = memory.subarray(room)
    nodeCrypto.randomFillSync(chunk)
    return { memory, chunk, copy: Buffer.from(chunk) }
  }

  it('sends a chunk from its own memory, the header in the room just before it', () => {
    const { sftp, sent } = channel(true, 10_000_000)
    const { memory, chunk, copy } = chunkWithRoom(64, 30_000)
    sftp.writeInPlace?.(handle, chunk, 123_456_789, () => undefined)
    expect(sent).toHaveLength(1)
    expect(sent[0].buffer).toBe(memory.buffer)
    expect(sent[0].byteOffset).toBe(64 - headLen)
    expect(writes(sent)).toEqual([{ offset: 123_456_789, data: copy }])
    expect(chunk.equals(copy)).toBe(true)
    // Nothing before the header's own bytes was touched.
    expect(memory.subarray(0, 64 - headLen).every(b => b === 0xee)).toBe(true)
  })

  it('sends a chunk queued for window space from its memory once there is room', () => {
    const { sftp, sent } = channel(true, 0)
    const { memory, chunk, copy } = chunkWithRoom(64, 30_000)
    sftp.writeInPlace?.(handle, chunk, 5, () => undefined)
    expect(sent).toHaveLength(0)
    sftp.outgoing.window += 1_000_000
    sftp._chunkcb?.()
    expect(sent.map(s => s.buffer)).toEqual([memory.buffer])
    expect(writes(sent)).toEqual([{ offset: 5, data: copy }])
  })

  it('copies, and writes nothing before the chunk, when the room or one request is not enough', () => {
    const { sftp, sent } = channel(true, 10_000_000)
    // Too little room for the header.
    const small = chunkWithRoom(headLen - 1, 30_000)
    sftp.writeInPlace?.(handle, small.chunk, 0, () => undefined)
    // Without an OpenSSH ident ssh2 writes at most 31,979 bytes per request: this takes two.
    const big = chunkWithRoom(64, 40_000)
    sftp.writeInPlace?.(handle, big.chunk, 30_000, () => undefined)
    // The rest of the big one is sent once the first part is acknowledged; here, by hand.
    const written = writes(sent)
    expect(written[0]).toEqual({ offset: 0, data: small.copy })
    expect(written[1].offset).toBe(30_000)
    expect(big.copy.subarray(0, written[1].data.length).equals(written[1].data)).toBe(true)
    for (const { memory } of [small, big]) {
      expect(sent.some(s => s.buffer === memory.buffer)).toBe(false)
    }
    expect(small.memory.subarray(0, headLen - 1).every(b => b === 0xee)).toBe(true)
    expect(big.memory.subarray(0, 64).every(b => b === 0xee)).toBe(true)
  })

  it('leaves a plain write as it was: a copy, nothing written before the data', () => {
    const { sftp, sent } = channel(true, 10_000_000)
    const { memory, chunk, copy } = chunkWithRoom(64, 30_000)
    sftp.write(handle, chunk, 0, chunk.length, 0, () => undefined)
    // A later in-place write of another chunk must not take this one's memory either.
    const other = chunkWithRoom(64, 1_000)
    sftp.writeInPlace?.(handle, other.chunk, 30_000, () => undefined)
    expect(sent[0].buffer).not.toBe(memory.buffer)
    expect(memory.subarray(0, 64).every(b => b === 0xee)).toBe(true)
    expect(writes(sent)).toEqual([
      { offset: 0, data: copy },
      { offset: 30_000, data: other.copy }
    ])
  })

  it("sends the engine's relay chunks in place: their room fits a header with OpenSSH's handle", () => {
    const { sftp, sent } = channel(true, 10_000_000)
    // What OpenSSH's limits@openssh.com allows: 261,120 bytes per write; its handles are 4 bytes.
    Object.assign(sftp, { _maxWriteLen: 261_120 })
    const openSshHandle = Buffer.from([0, 0, 0, 3])
    const lane = new SftpChannel(sftp as unknown as ssh2.SFTPWrapper)
    const chunk = new BufferPool(MiB).take(261_120, WRITE_HEADROOM)
    nodeCrypto.randomFillSync(chunk)
    const copy = Buffer.from(chunk)
    void lane.write(openSshHandle, chunk, 0)
    expect(sent.length).toBeGreaterThan(1)
    expect(sent.every(s => s.buffer === chunk.buffer)).toBe(true)
    const stream = Buffer.concat(sent.map(s => s.data))
    expect(stream.readUInt32BE(0)).toBe(stream.length - 4)
    expect(stream.subarray(stream.length - chunk.length).equals(copy)).toBe(true)
    expect(chunk.equals(copy)).toBe(true)
  })

  it('is needed: ssh2 as installed has no in-place write', () => {
    const { sftp } = channel(false, 10_000_000)
    expect(sftp.writeInPlace).toBeUndefined()
  })
})

describe('ssh2 patch: SFTP read answer put together where its data belongs', () => {
  type ReadCb = (err: Error | undefined, n: number) => void
  interface ReadingSftp {
    push(data: Buffer): void
    read(h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: ReadCb): void
    readInPlace?(h: Buffer, buf: Buffer, pos: number, cb: ReadCb): void
  }
  function client(patched: boolean): ReadingSftp {
    return versionedClient<ReadingSftp>(patched)
  }
  /** A DATA answer to request `id` claiming `claimed` bytes (its true length by default). */
  function dataAnswer(id: number, body: Buffer, claimed = body.length): Buffer {
    const head = Buffer.alloc(13)
    head.writeUInt32BE(9 + body.length, 0)
    head[4] = 103 // SSH_FXP_DATA
    head.writeUInt32BE(id, 5)
    head.writeUInt32BE(claimed, 9)
    return Buffer.concat([head, body])
  }
  function pushInPieces(sftp: ReadingSftp, packet: Buffer, piece = 7_000): void {
    for (let p = 0; p < packet.length; p += piece) sftp.push(packet.subarray(p, p + piece))
  }
  /** A chunk of `length` bytes with 64 bytes of room before it and 64 after, all 0xee. */
  function roomyChunk(length: number) {
    const memory = Buffer.alloc(64 + length + 64, 0xee)
    return { memory, chunk: memory.subarray(64, 64 + length) }
  }
  const untouched = (b: Buffer) => b.every(x => x === 0xee)
  const handle = Buffer.from('h1')

  it('puts a DATA answer together in the room and the chunk, with no buffer of its own', () => {
    const sftp = client(true)
    const { memory, chunk } = roomyChunk(30_000)
    const data = nodeCrypto.randomBytes(30_000)
    let got = -1
    sftp.readInPlace?.(handle, chunk, 0, (err, n) => {
      if (err) throw err
      got = n
    })
    const answer = dataAnswer(0, data)
    const slow = jest.spyOn(Buffer, 'allocUnsafeSlow')
    const unsafe = jest.spyOn(Buffer, 'allocUnsafe')
    try {
      pushInPieces(sftp, answer)
      const big = [...slow.mock.calls, ...unsafe.mock.calls].filter(([n]) => n >= 20_000)
      expect(big).toHaveLength(0)
    } finally {
      slow.mockRestore()
      unsafe.mockRestore()
    }
    expect(got).toBe(30_000)
    expect(chunk.equals(data)).toBe(true)
    // Type, id and length went into the 9 bytes just before the chunk; nothing else was touched.
    expect(memory[64 - 9]).toBe(103)
    expect(untouched(memory.subarray(0, 64 - 9))).toBe(true)
    expect(untouched(memory.subarray(64 + 30_000))).toBe(true)
  })

  it('writes nothing outside the chunk for an answer longer than asked', () => {
    const sftp = client(true)
    const { memory, chunk } = roomyChunk(30_000)
    let error: Error | undefined
    let got = -1
    sftp.readInPlace?.(handle, chunk, 0, (err, n) => {
      error = err
      got = n
    })
    pushInPieces(sftp, dataAnswer(0, nodeCrypto.randomBytes(30_040)))
    // ssh2's old path takes over: it copies what fits, as ssh2 as installed does.
    expect(error === undefined ? got : 0).toBeLessThanOrEqual(30_000)
    expect(untouched(memory.subarray(0, 64))).toBe(true)
    expect(untouched(memory.subarray(64 + 30_000))).toBe(true)
  })

  it('leaves a plain read as it was: the room before its buffer is not touched', () => {
    const sftp = client(true)
    const { memory, chunk } = roomyChunk(30_000)
    const data = nodeCrypto.randomBytes(30_000)
    let got = -1
    sftp.read(handle, chunk, 0, chunk.length, 0, (err, n) => {
      if (err) throw err
      got = n
    })
    pushInPieces(sftp, dataAnswer(0, data))
    expect(got).toBe(30_000)
    expect(chunk.equals(data)).toBe(true)
    expect(untouched(memory.subarray(0, 64))).toBe(true)
  })

  it("puts the answers to the engine's chunks together in place", async () => {
    const sftp = client(true)
    const lane = new SftpChannel(sftp as unknown as ssh2.SFTPWrapper)
    const chunk = new BufferPool(MiB).take(261_120, WRITE_HEADROOM)
    chunk.fill(0xee)
    const room = Buffer.from(chunk.buffer, chunk.byteOffset - WRITE_HEADROOM, WRITE_HEADROOM)
    room.fill(0xee)
    Object.assign(sftp, { _maxReadLen: 261_120 })
    const data = nodeCrypto.randomBytes(261_120)
    const reading = lane.read(handle, chunk, chunk.length, 0)
    pushInPieces(sftp, dataAnswer(0, data), 32_000)
    expect(await reading).toBe(261_120)
    expect(chunk.equals(data)).toBe(true)
    expect(room[WRITE_HEADROOM - 9]).toBe(103)
    expect(untouched(room.subarray(0, WRITE_HEADROOM - 9))).toBe(true)
  })

  it('is needed: ssh2 as installed has no in-place read', () => {
    expect(client(false).readInPlace).toBeUndefined()
  })
})

describe('ssh2 patch: limits asked alongside the first requests', () => {
  interface LimitsSftp {
    push(data: Buffer): void
    on(event: 'ready', listener: () => void): void
    stat(path: string, cb: (err: Error | undefined) => void): void
    maxOpenHandles?: number
    _maxWriteLen: number
  }

  /** A channel that keeps what it sends, past a VERSION that offers limits@openssh.com. */
  function offered(patched: boolean) {
    const sent: Buffer[] = []
    const sftp = sftpOn<LimitsSftp>(patched, {
      channelData: (_id: number, data: Buffer) => sent.push(Buffer.from(data))
    })
    let ready = false
    sftp.on('ready', () => (ready = true))
    const name = Buffer.from('limits@openssh.com')
    const ext = Buffer.concat([u32(name.length), name, u32(1), Buffer.from('1')])
    sftp.push(Buffer.concat([u32(5 + ext.length), Buffer.from([2]), u32(3), ext]))
    return { sftp, sent, ready: () => ready }
  }
  const u32 = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  /** The limits answer to request 0: packet, read and write lengths, open handles. */
  const limitsReply = () =>
    Buffer.concat([
      u32(1 + 4 + 32),
      Buffer.from([201]),
      u32(0),
      ...[262144, 261120, 261120, 1019].map(n => Buffer.concat([u32(0), u32(n)]))
    ])

  it('is ready at VERSION; the limits answer still sets the sizes and handles', () => {
    const { sftp, sent, ready } = offered(true)
    expect(ready()).toBe(true)
    expect(sent).toHaveLength(1)
    // A request may go out before the limits come back.
    sftp.stat('/t', () => undefined)
    expect(sent).toHaveLength(2)
    expect(sftp.maxOpenHandles).toBeUndefined()
    sftp.push(limitsReply())
    expect(sftp.maxOpenHandles).toBe(1019)
    expect(sftp._maxWriteLen).toBe(261120)
  })

  it('as installed, waits for the limits before it is ready', () => {
    const { sftp, ready } = offered(false)
    expect(ready()).toBe(false)
    sftp.push(limitsReply())
    expect(ready()).toBe(true)
    expect(sftp.maxOpenHandles).toBe(1019)
  })
})

describe('ssh2 patch: socket reads into one reused buffer', () => {
  type Ssh2 = typeof ssh2
  const stock = require('ssh2') as Ssh2
  const READ_SIZE = 256 * 1024
  const hostKey = stock.utils.generateKeyPairSync('ed25519')
  const hostBlob = (stock.utils.parseKey(hostKey.public) as ssh2.ParsedKey).getPublicSSH()
  let patchedClient: Ssh2['Client']
  beforeAll(() => {
    // The whole lib folder: client.js loads the protocol, the channels and the agent code.
    const lib = mkdtempSync(path.join(dir, 'lib-'))
    cpSync(path.dirname(protocolDir), lib, { recursive: true })
    for (const file of ['client.js', 'protocol/crypto.js', 'protocol/SFTP.js']) {
      const at = path.join(lib, file)
      writeFileSync(at, applySsh2Patches(readFileSync(at, 'utf8'), `ssh2/lib/${file}`))
    }
    patchedClient = require(path.join(lib, 'client.js')) as Ssh2['Client']
  })

  /**
   * A stock ssh2 server on loopback that answers an exec with `payload`, asking for a re-key
   * halfway through. Resolves with the port and a close function.
   */
  async function serve(payload: Buffer) {
    const server = new stock.Server({ hostKeys: [hostKey.private] }, conn => {
      conn.on('authentication', ctx => ctx.accept())
      conn.on('ready', () => {
        conn.on('session', accept => {
          accept().on('exec', acceptExec => {
            const stream = acceptExec()
            let sent = 0
            const send = (): void => {
              while (sent < payload.length) {
                const end = Math.min(sent + 65536, payload.length)
                const more = stream.write(payload.subarray(sent, end))
                if (sent < payload.length / 2 && end >= payload.length / 2) conn.rekey()
                sent = end
                if (!more) return void stream.once('drain', send)
              }
              stream.exit(0)
              stream.end()
            }
            send()
          })
        })
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    return { port, close: () => new Promise<void>(resolve => server.close(() => resolve())) }
  }

  /**
   * Runs an exec over `cipher` with `Client` and returns what came back, and the buffer behind
   * each socket read ssh2 was given, with how many had come before 'ready'.
   */
  async function transfer(Client: Ssh2['Client'], cipher: string, payload: Buffer) {
    const { port, close } = await serve(payload)
    const client = new Client()
    const reads: ArrayBufferLike[] = []
    let readsBeforeReady = -1
    try {
      const got = await new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = []
        client.on('error', reject)
        client.on('ready', () => {
          readsBeforeReady = reads.length
          client.exec('send', (err, stream) => {
            if (err) return reject(err)
            stream.on('data', (d: Buffer) => parts.push(Buffer.from(d)))
            stream.on('close', () => resolve(Buffer.concat(parts)))
          })
        })
        client.connect({
          host: '127.0.0.1',
          port,
          username: 'u',
          hostVerifier: (key: Buffer) => key.equals(hostBlob),
          algorithms: { cipher: [cipher] as ssh2.CipherAlgorithm[] }
        })
        // ssh2 paused the socket: this listener sees each read just before ssh2's own.
        const sock = Reflect.get(client, '_sock') as NodeJS.EventEmitter
        sock.on('data', (d: Buffer) => reads.push(d.buffer))
      })
      return { got, reads, readsBeforeReady }
    } finally {
      client.end()
      await close()
    }
  }

  /** The buffers (bigger than Buffer's small-copy pool) that more than one read came in. */
  function reused(reads: ArrayBufferLike[]): Set<ArrayBufferLike> {
    const seen = new Set<ArrayBufferLike>()
    const again = new Set<ArrayBufferLike>()
    for (const b of reads) {
      if (b.byteLength <= Buffer.poolSize) continue
      if (seen.has(b)) again.add(b)
      seen.add(b)
    }
    return again
  }

  const payload = nodeCrypto.randomBytes(8 * MiB)

  it.each(['aes128-gcm@openssh.com', 'aes128-ctr'])(
    'with %s, reads every encrypted read into one buffer, and keeps every byte intact',
    async cipher => {
      const { got, reads, readsBeforeReady } = await transfer(patchedClient, cipher, payload)
      expect(got.equals(payload)).toBe(true)
      const [buffer, ...others] = reused(reads)
      expect(others).toEqual([])
      expect(buffer.byteLength).toBe(READ_SIZE)
      // The ident line and the key exchange came in copies: ssh2 keeps the server's KEXINIT.
      expect(reads[0]).not.toBe(buffer)
      // From login on, at least 8 MiB in reads of at most 256 KiB, a re-key among them: the
      // reads while it runs (until NEWKEYS) are copies, as the next decipher may keep its input.
      const after = reads.slice(readsBeforeReady)
      expect(after.length).toBeGreaterThanOrEqual(32)
      const copies = after.filter(b => b !== buffer).length
      expect(copies).toBeGreaterThan(0)
      expect(copies).toBeLessThanOrEqual(8)
    }
  )

  it('with ChaCha20-Poly1305, which keeps a packet until its MAC arrives, hands over copies', async () => {
    const { got, reads } = await transfer(patchedClient, 'chacha20-poly1305@openssh.com', payload)
    expect(got.equals(payload)).toBe(true)
    expect(reused(reads).size).toBe(0)
  })

  it('is needed: ssh2 as installed reads into a new buffer every time', async () => {
    const { got, reads } = await transfer(stock.Client, 'aes128-gcm@openssh.com', payload)
    expect(got.equals(payload)).toBe(true)
    expect(reads.length).toBeGreaterThanOrEqual(32)
    expect(reused(reads).size).toBe(0)
  })
})
