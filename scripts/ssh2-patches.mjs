// @ts-check
// Build-time patches to ssh2, applied by scripts/bundle.mjs to the bundle's text (node_modules
// stays as installed). Each one exists because a measurement showed it saves CPU per byte on big
// transfers (docs/performance.md); each is pinned by test/unit/scripts-ssh2-patches.test.ts.
// A patch whose text is not found the expected number of times fails the build: an ssh2 update
// must be looked at, not silently left unpatched.

/**
 * ssh2 calls crypto.randomFillSync for the 4 to 19 padding bytes of every SSH packet it sends.
 * Each call costs about as much as allocating and copying the 32 KiB packet (6 us here: about a
 * sixth of the AES-GCM work for the packet). Drawing the padding from a pool that one
 * randomFillSync call refills every 16 KiB keeps every padding byte fresh from the CSPRNG and
 * used once, at a small fraction of the cost.
 */
const pooledPadding = {
  name: 'pooled random padding',
  file: 'ssh2/lib/protocol/crypto.js',
  edits: [
    {
      find: 'const MAX_PACKET_SIZE = 35000;\n',
      replace:
        'const MAX_PACKET_SIZE = 35000;\n' +
        '// pinned-sftp patch (scripts/ssh2-patches.mjs): padding from a pooled CSPRNG draw.\n' +
        'const PADDING_POOL = Buffer.allocUnsafe(16384);\n' +
        'let paddingPoolPos = PADDING_POOL.length;\n' +
        'function randomPadding(packet, offset, len) {\n' +
        '  if (paddingPoolPos + len > PADDING_POOL.length) {\n' +
        '    randomFillSync(PADDING_POOL);\n' +
        '    paddingPoolPos = 0;\n' +
        '  }\n' +
        '  PADDING_POOL.copy(packet, offset, paddingPoolPos, paddingPoolPos + len);\n' +
        '  paddingPoolPos += len;\n' +
        '}\n',
      count: 1
    },
    {
      find: 'randomFillSync(packet, 5 + payloadLen, padLen);',
      replace: 'randomPadding(packet, 5 + payloadLen, padLen);',
      // NullCipher, two ChaCha20-Poly1305, two AES-GCM and two generic (CTR/CBC + HMAC) ciphers.
      count: 7
    }
  ]
}

/**
 * ssh2's AES-GCM cipher (the one negotiated with OpenSSH) allocates a fresh buffer for every
 * packet it sends, only to encrypt it into another fresh buffer right away. Those 32 KiB
 * ArrayBuffers add up, and it is the old-generation collections they trigger, more than the
 * allocation itself, that cost CPU (a 512 MiB upload: about 30 mark-compacts per 256 MiB).
 * The patched cipher reuses one buffer for the plaintext packet: it is handed out again only
 * after encrypt() has consumed it (a packet queued during a re-key keeps its own buffer), and
 * the 4 length bytes, which go to the socket as they are, are copied out first.
 */
const reusedGcmPacket = {
  name: 'reused AES-GCM plaintext packet',
  file: 'ssh2/lib/protocol/crypto.js',
  edits: [
    {
      find:
        '    let padLen = 16 - ((pktLen - 4) & (16 - 1));\n' +
        '    if (padLen < 4)\n' +
        '      padLen += 16;\n' +
        '    pktLen += padLen;\n' +
        '\n' +
        '    const packet = Buffer.allocUnsafe(pktLen);\n',
      replace:
        '    let padLen = 16 - ((pktLen - 4) & (16 - 1));\n' +
        '    if (padLen < 4)\n' +
        '      padLen += 16;\n' +
        '    pktLen += padLen;\n' +
        '\n' +
        '    // pinned-sftp patch (scripts/ssh2-patches.mjs): one plaintext buffer, reused.\n' +
        '    let packet;\n' +
        '    if (!this._spareOut && pktLen <= MAX_PACKET_SIZE) {\n' +
        '      if (this._spare === undefined)\n' +
        '        this._spare = Buffer.allocUnsafe(MAX_PACKET_SIZE);\n' +
        '      this._spareOut = true;\n' +
        '      packet = new FastBuffer(this._spare.buffer, this._spare.byteOffset, pktLen);\n' +
        '    } else {\n' +
        '      packet = Buffer.allocUnsafe(pktLen);\n' +
        '    }\n',
      count: 1
    },
    {
      find: '    const lenData = packet.slice(0, 4);\n    cipher.setAAD(lenData);',
      replace:
        '    const lenData = Buffer.from(packet.subarray(0, 4));\n    cipher.setAAD(lenData);',
      count: 1
    },
    {
      find: '    // Generate MAC\n    const tag = cipher.getAuthTag();\n    this._onWrite(tag);\n',
      replace:
        '    // Generate MAC\n' +
        '    const tag = cipher.getAuthTag();\n' +
        '    this._onWrite(tag);\n' +
        '    if (this._spare !== undefined && packet.buffer === this._spare.buffer)\n' +
        '      this._spareOut = false;\n',
      count: 1
    }
  ]
}

/**
 * ssh2's SFTP write copies the caller's data into a fresh request buffer (255 KiB with OpenSSH)
 * before cutting it into SSH packets, which copy it again. The request buffer is garbage once
 * its last byte has gone to the channel, so the patched write takes it from a small free list
 * and gives it back then: the same churn of ArrayBuffers as above, halved again for uploads.
 * A request still waiting for window space (in the channel's queue) keeps its buffer until it
 * has been sent in full; only buffers this patch made go back to the list.
 */
const reusedWriteRequest = {
  name: 'reused SFTP write request buffer',
  file: 'ssh2/lib/protocol/SFTP.js',
  edits: [
    {
      find: 'function sendOrBuffer(sftp, payload) {\n',
      replace:
        '// pinned-sftp patch (scripts/ssh2-patches.mjs): WRITE request buffers, reused.\n' +
        'const WRITE_BUFFERS_MADE = new WeakSet();\n' +
        'const WRITE_BUFFERS_FREE = new Set();\n' +
        'function takeWriteBuffer(size) {\n' +
        '  for (const ab of WRITE_BUFFERS_FREE) {\n' +
        '    WRITE_BUFFERS_FREE.delete(ab);\n' +
        '    if (ab.byteLength >= size)\n' +
        '      return new FastBuffer(ab, 0, size);\n' +
        '  }\n' +
        '  const buf = Buffer.allocUnsafeSlow(size);\n' +
        '  WRITE_BUFFERS_MADE.add(buf.buffer);\n' +
        '  return buf;\n' +
        '}\n' +
        'function recycleWriteBuffer(payload) {\n' +
        '  if (WRITE_BUFFERS_MADE.has(payload.buffer) && WRITE_BUFFERS_FREE.size < 8)\n' +
        '    WRITE_BUFFERS_FREE.add(payload.buffer);\n' +
        '}\n' +
        '\n' +
        'function sendOrBuffer(sftp, payload) {\n',
      count: 1
    },
    {
      find: '    const out = Buffer.allocUnsafe(4 + 1 + 4 + 4 + handleLen + 8 + 4 + len);\n',
      replace: '    const out = takeWriteBuffer(4 + 1 + 4 + 4 + handleLen + 8 + 4 + len);\n',
      count: 1
    },
    {
      find: '    const isSent = sendOrBuffer(this, out);\n',
      replace:
        '    const isSent = sendOrBuffer(this, out);\n' +
        '    if (isSent)\n' +
        '      recycleWriteBuffer(out);\n',
      count: 1
    },
    {
      find: '    ++i;\n  }\n  if (i > 0)\n    this._buffer = [];\n',
      replace:
        '    recycleWriteBuffer(payload);\n    ++i;\n  }\n  if (i > 0)\n    this._buffer = [];\n',
      count: 1
    }
  ]
}

/**
 * An SFTP response bigger than one SSH packet (every 255 KiB READ answer from OpenSSH arrives in
 * eight 32 KiB packets) is put together in a fresh buffer of its full size before ssh2 parses
 * it. For a DATA answer to a read into the caller's buffer, that buffer is garbage as soon as the
 * data is copied out, so the patched client reuses one per channel: a 512 MiB download no longer
 * allocates 2,000 fresh 255 KiB buffers, whose new pages and old-generation collections cost
 * more CPU than the copy itself. Any other response (a slice of it may be kept: a handle, a
 * name, data read without a buffer) keeps its buffer, and the next packet gets a new one.
 */
const reusedReadResponse = {
  name: 'reused SFTP response reassembly buffer',
  file: 'ssh2/lib/protocol/SFTP.js',
  edits: [
    {
      find: 'function sendOrBuffer(sftp, payload) {\n',
      replace:
        '// pinned-sftp patch (scripts/ssh2-patches.mjs): one reassembly buffer per channel.\n' +
        'function takeInPacket(sftp, len) {\n' +
        '  if (sftp.server)\n' +
        '    return Buffer.allocUnsafe(len);\n' +
        '  if (sftp._inSpare === undefined || sftp._inSpare.length < len)\n' +
        '    sftp._inSpare = Buffer.allocUnsafeSlow(len);\n' +
        '  const pkt = new FastBuffer(sftp._inSpare.buffer, 0, len);\n' +
        '  sftp._inSpare = undefined;\n' +
        '  sftp._inSpareTaken = pkt.buffer;\n' +
        '  return pkt;\n' +
        '}\n' +
        '\n' +
        'function sendOrBuffer(sftp, payload) {\n',
      count: 1
    },
    {
      find: 'this._pkt = Buffer.allocUnsafe(this._pktLen);',
      replace: 'this._pkt = takeInPacket(this, this._pktLen);',
      count: 2
    },
    {
      find: '      if (handler(this, payload) === false)\n        return;\n',
      replace:
        '      let inSpare;\n' +
        '      if (this._inSpareTaken !== undefined && payload.buffer === this._inSpareTaken) {\n' +
        '        const req = (type === RESPONSE.DATA && payload.length >= 5\n' +
        '                     ? this._requests[payload.readUInt32BE(1)]\n' +
        '                     : undefined);\n' +
        '        if (req && req.buffer)\n' +
        '          inSpare = new FastBuffer(payload.buffer, 0, payload.buffer.byteLength);\n' +
        '      }\n' +
        '      this._inSpareTaken = undefined;\n' +
        '      if (handler(this, payload) === false)\n' +
        '        return;\n' +
        '      if (inSpare !== undefined)\n' +
        '        this._inSpare = inSpare;\n',
      count: 1
    }
  ]
}

/**
 * ssh2's AES-GCM decipher feeds each packet to a fresh OpenSSL context in as many update() calls
 * as socket reads it spans; with 64 KiB reads and 32 KiB packets that is most packets twice.
 * Node's update() allocates twice per call (an output buffer one byte too long, then a zeroed
 * copy of the right size), and a packet decrypted in two parts is copied a third time into a
 * buffer of its own. The patched decipher gathers a split packet (encrypted, with its tag) in one
 * reused buffer and decrypts every packet with a single update(); a packet that a read holds
 * whole is decrypted where it lies. The tag is checked by final() as before, and nothing of a
 * packet reaches ssh2 before it was.
 */
const singleGcmUpdate = {
  name: 'one AES-GCM decipher update per packet',
  file: 'ssh2/lib/protocol/crypto.js',
  edits: [
    {
      find:
        '        this._decipherInstance = createDecipheriv(\n' +
        '          this._decipherSSLName,\n' +
        '          this._decipherKey,\n' +
        '          this._decipherIV\n' +
        '        );\n' +
        '        this._decipherInstance.setAutoPadding(false);\n' +
        '        this._decipherInstance.setAAD(intToBytes(this._len));\n' +
        '      }\n' +
        '\n' +
        '      // Read padding length, payload, and padding\n' +
        '      if (this._pktLen < this._len) {\n' +
        '        if (p >= dataLen)\n' +
        '          return;\n' +
        '        const nb = Math.min(this._len - this._pktLen, dataLen - p);\n' +
        '        let decrypted;\n' +
        '        if (p !== 0 || nb !== dataLen) {\n' +
        '          decrypted = this._decipherInstance.update(\n' +
        '            new Uint8Array(data.buffer, data.byteOffset + p, nb)\n' +
        '          );\n' +
        '        } else {\n' +
        '          decrypted = this._decipherInstance.update(data);\n' +
        '        }\n' +
        '        if (decrypted.length) {\n' +
        '          if (nb === this._len) {\n' +
        '            this._packet = decrypted;\n' +
        '          } else {\n' +
        '            if (!this._packet)\n' +
        '              this._packet = Buffer.allocUnsafe(this._len);\n' +
        '            this._packet.set(decrypted, this._packetPos);\n' +
        '          }\n' +
        '          this._packetPos += decrypted.length;\n' +
        '        }\n' +
        '        p += nb;\n' +
        '        this._pktLen += nb;\n' +
        '        if (this._pktLen < this._len || p >= dataLen)\n' +
        '          return;\n' +
        '      }\n' +
        '\n' +
        '      // Read authentication tag\n' +
        '      {\n' +
        '        const nb = Math.min(16 - this._tagPos, dataLen - p);\n' +
        '        if (p !== 0 || nb !== dataLen) {\n' +
        '          this._tag.set(\n' +
        '            new Uint8Array(data.buffer, data.byteOffset + p, nb),\n' +
        '            this._tagPos\n' +
        '          );\n' +
        '        } else {\n' +
        '          this._tag.set(data, this._tagPos);\n' +
        '        }\n' +
        '        p += nb;\n' +
        '        this._tagPos += nb;\n' +
        '        if (this._tagPos < 16)\n' +
        '          return;\n' +
        '      }\n' +
        '\n' +
        '      {\n' +
        '        // Verify authentication tag\n' +
        '        this._decipherInstance.setAuthTag(this._tag);\n' +
        '\n' +
        '        const decrypted = this._decipherInstance.final();\n' +
        '\n' +
        '        // XXX: this should never output any data since stream ciphers always\n' +
        '        // return data from .update() and block ciphers must end on a multiple\n' +
        '        // of the block length, which would have caused an exception to be\n' +
        '        // thrown if the total input was not...\n' +
        '        if (decrypted.length) {\n' +
        '          if (this._packet)\n' +
        '            this._packet.set(decrypted, this._packetPos);\n' +
        '          else\n' +
        '            this._packet = decrypted;\n' +
        '        }\n' +
        '      }\n',
      replace:
        '      }\n' +
        '\n' +
        '      // pinned-sftp patch (scripts/ssh2-patches.mjs): one decipher update() per packet. The\n' +
        '      // encrypted packet and its tag are used in place when this chunk holds them whole, and\n' +
        '      // are otherwise gathered in one reused buffer first.\n' +
        '      const sealedLen = this._len + 16;\n' +
        '      let sealed;\n' +
        '      if (this._pktLen === 0 && dataLen - p >= sealedLen) {\n' +
        '        sealed = new FastBuffer(data.buffer, data.byteOffset + p, sealedLen);\n' +
        '        p += sealedLen;\n' +
        '      } else {\n' +
        '        if (p >= dataLen)\n' +
        '          return;\n' +
        '        if (this._sealed === undefined)\n' +
        '          this._sealed = Buffer.allocUnsafeSlow(MAX_PACKET_SIZE);\n' +
        '        const nb = Math.min(sealedLen - this._pktLen, dataLen - p);\n' +
        '        this._sealed.set(new Uint8Array(data.buffer, data.byteOffset + p, nb), this._pktLen);\n' +
        '        p += nb;\n' +
        '        this._pktLen += nb;\n' +
        '        if (this._pktLen < sealedLen)\n' +
        '          return;\n' +
        '        sealed = new FastBuffer(this._sealed.buffer, this._sealed.byteOffset, sealedLen);\n' +
        '      }\n' +
        '      const decipher = createDecipheriv(\n' +
        '        this._decipherSSLName,\n' +
        '        this._decipherKey,\n' +
        '        this._decipherIV\n' +
        '      );\n' +
        '      decipher.setAutoPadding(false);\n' +
        '      decipher.setAAD(intToBytes(this._len));\n' +
        '      this._packet = decipher.update(\n' +
        '        new FastBuffer(sealed.buffer, sealed.byteOffset, this._len)\n' +
        '      );\n' +
        '      decipher.setAuthTag(\n' +
        '        new FastBuffer(sealed.buffer, sealed.byteOffset + this._len, 16)\n' +
        '      );\n' +
        '      {\n' +
        '        // Verify authentication tag (final() throws when it does not match)\n' +
        '        const decrypted = decipher.final();\n' +
        '        if (decrypted.length)\n' +
        '          this._packet = Buffer.concat([this._packet, decrypted]);\n' +
        '      }\n',
      count: 1
    }
  ]
}

/**
 * A relay's chunk arrives from the source in a buffer of the caller's, and ssh2's write then
 * copies all of it behind the WRITE request's header (ssh2 needs one buffer per request): a second
 * copy of every byte relayed, on top of the one into the SSH packets. The patched client adds
 * writeInPlace(handle, buf, position, cb): a caller whose buffer has free room just before it
 * (the engine's relay chunks keep 64 bytes there, see buffer-pool.ts) gets the header written
 * into that room and the request sent from its own memory, with no copy. Only a request that fits
 * in one WRITE and only the room in front of `buf` is written; any other write copies as before.
 * The caller must not touch `buf` until the write's callback, as with any ssh2 write (a request
 * waiting for window space is sent from that memory later).
 */
const inPlaceWriteRequest = {
  name: 'SFTP write request built in the room before the data',
  file: 'ssh2/lib/protocol/SFTP.js',
  edits: [
    {
      find: '    const out = takeWriteBuffer(4 + 1 + 4 + 4 + handleLen + 8 + 4 + len);\n',
      replace:
        '    // pinned-sftp patch (scripts/ssh2-patches.mjs): the header in the room before the data.\n' +
        '    const headLen = 4 + 1 + 4 + 4 + handleLen + 8 + 4;\n' +
        '    const inPlace = (this._writeInPlace === buf && off === 0 && !overflow\n' +
        '                     && buf.byteOffset >= headLen);\n' +
        '    this._writeInPlace = undefined;\n' +
        '    const out = (inPlace\n' +
        '                 ? new FastBuffer(buf.buffer, buf.byteOffset - headLen, headLen + len)\n' +
        '                 : takeWriteBuffer(headLen + len));\n',
      count: 1
    },
    {
      find: '    writeUInt32BE(out, len, p += 8);\n    bufferCopy(buf, out, off, off + len, p += 4);\n',
      replace:
        '    writeUInt32BE(out, len, p += 8);\n' +
        '    if (!inPlace)\n' +
        '      bufferCopy(buf, out, off, off + len, p += 4);\n',
      count: 1
    },
    {
      find: '  write(handle, buf, off, len, position, cb) {\n',
      replace:
        '  writeInPlace(handle, buf, position, cb) {\n' +
        '    this._writeInPlace = buf;\n' +
        '    try {\n' +
        '      this.write(handle, buf, 0, buf.length, position, cb);\n' +
        '    } finally {\n' +
        '      this._writeInPlace = undefined;\n' +
        '    }\n' +
        '  }\n' +
        '\n' +
        '  write(handle, buf, off, len, position, cb) {\n',
      count: 1
    }
  ]
}

/**
 * A 255 KiB READ answer from OpenSSH arrives in eight SSH packets: ssh2 puts it together in one
 * buffer (reused, see above), then copies its data into the caller's buffer. The patched client
 * adds readInPlace(handle, buf, position, cb): for a caller whose buffer has free room just before
 * it (the engine's chunks, see buffer-pool.ts), a DATA answer is put together right there, its
 * 9 bytes of type, id and length in the room and its data where the caller wants it, and is not
 * copied again. Only a request answered in one READ is marked; only the room in front of `buf`
 * and `buf` itself are written, never past its end, whatever length the server claims (a longer
 * answer goes the old way and is refused as before).
 */
const inPlaceReadAnswer = {
  name: 'SFTP read answer put together where its data belongs',
  file: 'ssh2/lib/protocol/SFTP.js',
  edits: [
    {
      find: 'function sendOrBuffer(sftp, payload) {\n',
      replace:
        '// pinned-sftp patch (scripts/ssh2-patches.mjs): a DATA answer assembled in place.\n' +
        'function answerInPlace(sftp, data, p, len) {\n' +
        '  if (sftp.server || data.length - p < 9 || data[p] !== RESPONSE.DATA)\n' +
        '    return;\n' +
        '  const req = sftp._requests[data.readUInt32BE(p + 1)];\n' +
        '  if (!req || req.inPlace !== true || !req.buffer)\n' +
        '    return;\n' +
        '  const dest = req.buffer;\n' +
        '  if (dest.byteOffset < 9 || len - 9 > dest.length)\n' +
        '    return;\n' +
        '  return new FastBuffer(dest.buffer, dest.byteOffset - 9, len);\n' +
        '}\n' +
        '\n' +
        'function sendOrBuffer(sftp, payload) {\n',
      count: 1
    },
    {
      find: 'this._pkt = takeInPacket(this, this._pktLen);',
      replace:
        'this._pkt = (answerInPlace(this, data, p, this._pktLen)\n' +
        '                         || takeInPacket(this, this._pktLen));',
      count: 2
    },
    {
      find: '        const nb = bufferParser.readString(req.buffer);\n',
      replace:
        '        const dataLen = payload.length - 9;\n' +
        '        const inPlace = (payload.buffer === req.buffer.buffer\n' +
        '                         && payload.byteOffset + 9 === req.buffer.byteOffset\n' +
        '                         && dataLen <= req.buffer.length\n' +
        '                         && payload.readUInt32BE(5) === dataLen);\n' +
        '        const nb = (inPlace ? dataLen : bufferParser.readString(req.buffer));\n',
      count: 1
    },
    {
      find: '  readData(handle, buf, off, len, position, cb) {\n',
      replace:
        '  readInPlace(handle, buf, position, cb) {\n' +
        '    this.read(handle, buf, 0, buf.length, position, cb);\n' +
        '    const req = this._requests[this._writeReqid];\n' +
        '    if (req && req.buffer && !req.overflow)\n' +
        '      req.inPlace = true;\n' +
        '  }\n' +
        '  readData(handle, buf, off, len, position, cb) {\n',
      count: 1
    }
  ]
}

/**
 * ssh2 answers an SFTP channel's VERSION that offers `limits@openssh.com` by asking for the
 * limits and says 'ready' only once they came back: a round trip of its own on every
 * connection, before the first request. The patched channel is ready at VERSION and the limits
 * request goes out with the first requests; its answer still sets the sizes for what follows.
 * Meanwhile ssh2's own sizes hold (256 KiB less 2 KiB for OpenSSH, which its limits exceed;
 * 32 KiB for others, which every server takes), and the action counts 64 handles a channel
 * (FALLBACK_OPEN_HANDLES) until the server's number comes.
 */
const limitsAlongside = {
  name: 'limits asked alongside the first requests',
  file: 'ssh2/lib/protocol/SFTP.js',
  edits: [
    {
      find:
        "    if (extensions['limits@openssh.com'] === '1') {\n" +
        '      return requestLimits(sftp, (err, limits) => {\n',
      replace:
        '    // pinned-sftp patch (scripts/ssh2-patches.mjs): ready now, limits applied on arrival.\n' +
        "    if (extensions['limits@openssh.com'] === '1') {\n" +
        '      requestLimits(sftp, (err, limits) => {\n',
      count: 1
    },
    {
      find:
        '            limits.maxOpenHandles > 0 ? limits.maxOpenHandles : Infinity\n' +
        '          );\n' +
        '        }\n' +
        "        sftp.emit('ready');\n" +
        '      });\n' +
        '    }\n',
      replace:
        '            limits.maxOpenHandles > 0 ? limits.maxOpenHandles : Infinity\n' +
        '          );\n' +
        '        }\n' +
        '      });\n' +
        '    }\n',
      count: 1
    }
  ]
}

/**
 * Node gives every read from a TCP socket a fresh 64 KiB buffer, and ssh2 is done with it before
 * its 'data' handler returns once packets are encrypted: the AES-GCM decipher decrypts a packet
 * the read holds whole where it lies and copies the rest, and so does the CTR + HMAC one. A
 * 512 MiB download made 8,000 such buffers, whose external memory set off about 55 full
 * collections (most of the client's garbage collection, a quarter of its CPU). The patched
 * client reads its TCP socket into one buffer of its own (Node's `onread` option) and hands
 * ssh2 a view of it, but only while the connection's decipher is one of those two, marked here
 * (`keepsNoInput`); any other read is handed over as a copy, as before: the ident line and key
 * exchange (ssh2 keeps the server's KEXINIT as it arrived), and ChaCha20-Poly1305, which keeps
 * a packet it holds whole until its MAC arrives in a later read.
 */
const decipherKeepsNoInput = {
  name: 'deciphers that keep nothing of a read, marked',
  file: 'ssh2/lib/protocol/crypto.js',
  edits: [
    {
      find: 'function ivIncrement(iv) {\n',
      replace:
        '// pinned-sftp patch (scripts/ssh2-patches.mjs): these two keep no reference to a read once\n' +
        '// decrypt() returns (a packet is decrypted at once, or copied until it is whole).\n' +
        'AESGCMDecipherNative.prototype.keepsNoInput = true;\n' +
        'GenericDecipherNative.prototype.keepsNoInput = true;\n' +
        '\n' +
        'function ivIncrement(iv) {\n',
      count: 1
    }
  ]
}

const reusedSocketReadBuffer = {
  name: 'socket reads into one reused buffer',
  file: 'ssh2/lib/client.js',
  edits: [
    {
      find: '    const sock = this._sock = (cfg.sock || new Socket());\n',
      replace:
        '    // pinned-sftp patch (scripts/ssh2-patches.mjs): reads into one reused buffer.\n' +
        '    const sock = this._sock = (cfg.sock || socketReadingInPlace(() => proto));\n',
      count: 1
    },
    {
      find:
        'function openChannel(self, type, opts, cb) {\n' +
        '  // Ask the server to open a channel for some purpose\n',
      replace:
        '// pinned-sftp patch (scripts/ssh2-patches.mjs): a TCP socket that reads into one buffer of\n' +
        "// its own. ssh2's 'data' handler gets a view of it while the decipher keeps nothing of what\n" +
        '// it is given (Protocol.parse() runs to the end of the read before the handler returns), and\n' +
        '// a copy of what was read otherwise.\n' +
        'const SOCKET_READ_SIZE = 256 * 1024;\n' +
        'function socketReadingInPlace(protocol) {\n' +
        '  const sock = new Socket({\n' +
        '    onread: {\n' +
        '      buffer: Buffer.allocUnsafeSlow(SOCKET_READ_SIZE),\n' +
        '      callback: (nread, buf) => {\n' +
        '        const decipher = protocol()._decipher;\n' +
        '        const view = buf.subarray(0, nread);\n' +
        '        // A read that may hold NEWKEYS is copied: the next decipher may keep what it is given.\n' +
        "        sock.emit('data', (decipher !== undefined && decipher.keepsNoInput === true\n" +
        '                           && protocol()._kexinit === undefined\n' +
        '                           ? view\n' +
        '                           : Buffer.from(view)));\n' +
        '      },\n' +
        '    },\n' +
        '  });\n' +
        '  return sock;\n' +
        '}\n' +
        '\n' +
        'function openChannel(self, type, opts, cb) {\n' +
        '  // Ask the server to open a channel for some purpose\n',
      count: 1
    }
  ]
}

export const SSH2_PATCHES = [
  pooledPadding,
  reusedGcmPacket,
  singleGcmUpdate,
  reusedWriteRequest,
  inPlaceWriteRequest,
  reusedReadResponse,
  inPlaceReadAnswer,
  limitsAlongside,
  decipherKeepsNoInput,
  reusedSocketReadBuffer
]

/**
 * Applies every patch to `text` (a bundle, or one of ssh2's own files for the tests). Throws
 * when a patch's text occurs a different number of times than expected.
 * @param {string} text
 * @param {string} [only] apply only the patches for this ssh2 file, e.g. 'ssh2/lib/protocol/crypto.js'
 * @returns {string}
 */
export function applySsh2Patches(text, only) {
  let out = text
  for (const patch of SSH2_PATCHES) {
    if (only !== undefined && patch.file !== only) continue
    for (const edit of patch.edits) {
      const found = out.split(edit.find).length - 1
      if (found !== edit.count) {
        throw new Error(
          `ssh2 patch "${patch.name}": expected ${edit.count} occurrence(s) of ` +
            `${JSON.stringify(edit.find.slice(0, 60))}, found ${found}. Has ssh2 changed?`
        )
      }
      out = out.split(edit.find).join(edit.replace)
    }
  }
  return out
}
