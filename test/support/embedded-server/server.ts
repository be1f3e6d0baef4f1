import fs from 'node:fs'
import net from 'node:net'
import ssh2 from 'ssh2'
import { makeTempDir, removeTempDir } from '../tmp.js'
import { ConnectionState, type ServerState } from './connection.js'
import { serveFileRequests } from './file-requests.js'
import { generateHostKey, parsePublicKey, swappableKey } from './host-key.js'
import { servePathRequests } from './path-requests.js'
import { SftpSession } from './sftp-session.js'
import type { EmbeddedServer, EmbeddedServerOptions, Faults } from './types.js'
import { disconnectPacket, listen } from './wire.js'

const HOST = '127.0.0.1'
const DEFAULT_IDENT = 'EmbeddedSftp_1.0'
/** Same pattern ssh2 uses to decide that a peer has OpenSSH's SFTP quirks. */
const OPENSSH_IDENT = /^SSH-2\.0-(?:OpenSSH|dropbear)/

/** Start an embedded SFTP server on 127.0.0.1 (random port). */
export async function startEmbeddedServer(
  options: EmbeddedServerOptions = {}
): Promise<EmbeddedServer> {
  const keyDir = makeTempDir('embedded-sftp-keys-')
  const ownsRoot = options.root === undefined
  const rootDir = options.root ?? makeTempDir('embedded-sftp-root-')
  const cleanupDirs = (): void => {
    removeTempDir(keyDir)
    if (ownsRoot) removeTempDir(rootDir)
  }
  try {
    const root = fs.realpathSync(rootDir)
    if (!fs.statSync(root).isDirectory()) throw new Error(`embedded server: ${root} is no dir`)
    const username = options.username ?? 'tester'
    const ident = options.ident ?? DEFAULT_IDENT
    const { privateKey, hostKey } = await generateHostKey(keyDir, options.hostKeyType ?? 'ed25519')
    // ssh2 takes a parsed key object as { key }, and uses it as it is.
    const serverKey = options.presentKey
      ? { key: Object.assign(swappableKey(privateKey, options.presentKey), { swapped: true }) }
      : privateKey
    const authorizedKey =
      options.authorizedKey !== undefined ? parsePublicKey(options.authorizedKey) : undefined
    const methods: ssh2.AuthenticationType[] = []
    const keyboardPrompts = options.keyboardPrompts
    if (options.password !== undefined && !keyboardPrompts) methods.push('password')
    if (authorizedKey) methods.push('publickey')
    if (keyboardPrompts) methods.push('keyboard-interactive')
    const keyboardAnswers: string[][] = []

    let faults: Faults = { ...options.faults }
    let authAttempts = 0
    let connections = 0
    const triggered = { drops: 0, stalls: 0 }
    const state: ServerState = {
      root,
      username,
      password: options.password,
      authorizedKey,
      claimsOpenSSH: OPENSSH_IDENT.test(`SSH-2.0-${ident}`),
      faults: () => faults,
      onFault: kind => {
        if (kind === 'drop') triggered.drops++
        else triggered.stalls++
      }
    }
    const live = new Set<ConnectionState>()

    const onAuthentication = (ctx: ssh2.AuthContext): void => {
      authAttempts++
      if (ctx.username !== username) return ctx.reject(methods)
      if (ctx.method === 'keyboard-interactive' && keyboardPrompts) {
        return ctx.prompt(keyboardPrompts, answers => {
          keyboardAnswers.push(answers)
          if (answers[0] === options.password) ctx.accept()
          else ctx.reject(methods)
        })
      }
      if (ctx.method === 'password') {
        if (
          options.password !== undefined &&
          !keyboardPrompts &&
          ctx.password === options.password
        ) {
          return ctx.accept()
        }
      } else if (ctx.method === 'publickey' && authorizedKey) {
        if (ctx.key.data.equals(authorizedKey.getPublicSSH())) {
          // Without a signature the client only asks whether the key would do (PK_OK).
          if (!ctx.signature) return ctx.accept()
          if (ctx.blob && authorizedKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
            return ctx.accept()
          }
        }
      }
      ctx.reject(methods)
    }

    const onSsh = (conn: ConnectionState, client: ssh2.Connection, info: ssh2.ClientInfo): void => {
      const clientIsOpenSSH = OPENSSH_IDENT.test(info.header.identRaw)
      client.on('error', () => undefined)
      client.on('authentication', onAuthentication)
      client.on('session', (accept, reject) => {
        const max = faults.maxChannels
        if (max !== undefined && conn.sessions >= max) return reject()
        const session = accept()
        conn.sessions++
        session.once('close', () => conn.sessions--)
        session.on('sftp', acceptSftp => {
          if (faults.silentSftp) return
          const sftp = new SftpSession(acceptSftp(), conn, state, clientIsOpenSSH)
          serveFileRequests(sftp)
          servePathRequests(sftp)
        })
      })
    }

    const tcp = net.createServer(socket => {
      connections++
      const conn = new ConnectionState(socket, state)
      live.add(conn)
      socket.setNoDelay(true)
      socket.on('error', () => undefined)
      socket.once('close', () => {
        live.delete(conn)
        for (const close of [...conn.closers]) void close()
      })
      if (faults.silent) return
      if (faults.disconnect !== undefined) {
        socket.end(
          Buffer.concat([Buffer.from(`SSH-2.0-${ident}\r\n`), disconnectPacket(faults.disconnect)])
        )
        return
      }
      // One ssh2 Server per connection, so the handlers can close over the connection's state.
      const swap = faults.rekeySwap
      const swappable = swap ? swappableKey(privateKey, swap.presentKey) : undefined
      const hostKey = swappable ? { key: swappable } : serverKey
      const ssh = new ssh2.Server({ hostKeys: [hostKey], ident }, (client, info) => {
        onSsh(conn, client, info)
        if (swap && swappable) {
          client.once('ready', () =>
            setTimeout(() => {
              swappable.swapped = true
              client.rekey()
            }, swap.afterMs)
          )
        }
      })
      ssh.injectSocket(socket)
    })
    const port = await listen(tcp)

    let stopping: Promise<void> | undefined
    return {
      host: HOST,
      port,
      root,
      username,
      hostKey,
      authAttempts: () => authAttempts,
      connections: () => connections,
      keyboardAnswers: () => keyboardAnswers.map(a => [...a]),
      faultsTriggered: () => ({ ...triggered }),
      setFaults: next => {
        faults = { ...next }
      },
      stop: () => {
        stopping ??= (async () => {
          const closed = new Promise<void>(resolve => tcp.close(() => resolve()))
          const closers: Promise<void>[] = []
          for (const conn of live) {
            conn.socket.destroy()
            for (const close of conn.closers) closers.push(close())
          }
          await Promise.all([closed, ...closers])
          cleanupDirs()
        })()
        return stopping
      }
    }
  } catch (error) {
    cleanupDirs()
    throw error
  }
}
