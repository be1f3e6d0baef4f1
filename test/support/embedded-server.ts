/**
 * An in-process SFTP server for tests, built on ssh2's `Server` and backed by a real directory.
 *
 * It exists for two reasons:
 *  1. to prove the action works against an SFTP server that is not OpenSSH (different ident, no
 *     SFTP extensions, no '.'/'..' in listings, password as well as public-key authentication);
 *  2. fault injection: dropped connections, stalled requests, lying sizes, hostile file names,
 *     refused channels and a server that never says hello (see {@link Faults}).
 *
 * Only ever listens on 127.0.0.1 (port 0). Test code only, never shipped. Its modules live in
 * embedded-server/, with a second server there (hostile.ts: a made-up tree that never ends);
 * tests, the demo and the bench import both from this file.
 *
 * Path handling: the served directory is the client's '/', and the client's working directory is
 * '/' as well, so '/x' and 'x' are the same file. A client path whose '..' components would climb
 * above the root is refused with PERMISSION_DENIED, and so is any path that resolves (through
 * symlinks, dangling ones included) to somewhere outside the root.
 */
export { startEmbeddedServer } from './embedded-server/server.js'
export { HUGE_SIZE, LIAR_SIZE, startHostileSftp } from './embedded-server/hostile.js'
export type { HostileSftp } from './embedded-server/hostile.js'
export type {
  EmbeddedHostKey,
  EmbeddedHostKeyType,
  EmbeddedServer,
  EmbeddedServerOptions,
  Faults
} from './embedded-server/types.js'
