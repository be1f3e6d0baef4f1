import net from 'node:net'

const HOST = '127.0.0.1'

export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      server.off('error', reject)
      const address = server.address()
      if (typeof address === 'object' && address !== null) resolve(address.port)
      else reject(new Error('test server: no port assigned'))
    })
  })
}

/**
 * SSH_MSG_DISCONNECT (reason 2, protocol error) as an unencrypted binary packet, as a server
 * sends it before key exchange (RFC 4253 section 6: 8-byte blocks, at least 4 bytes of padding).
 */
export function disconnectPacket(text: string): Buffer {
  const description = Buffer.from(text)
  const payload = Buffer.alloc(1 + 4 + 4 + description.length + 4)
  payload[0] = 1
  payload.writeUInt32BE(2, 1)
  payload.writeUInt32BE(description.length, 5)
  description.copy(payload, 9)
  payload.writeUInt32BE(0, 9 + description.length)
  let padding = 8 - ((4 + 1 + payload.length) % 8)
  if (padding < 4) padding += 8
  const head = Buffer.alloc(5)
  head.writeUInt32BE(1 + payload.length + padding, 0)
  head[4] = padding
  return Buffer.concat([head, payload, Buffer.alloc(padding)])
}
