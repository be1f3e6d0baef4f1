import * as core from '@actions/core'
import { forLog } from '../escape.js'
import { SFTP_STATUS, type RemoteStat, type SftpChannel, type SftpError } from './sftp.js'

/** One open handle of a remote file, on one channel. */
export interface Lane {
  channel: SftpChannel
  handle: Buffer
  /**
   * Set when CLOSE is sent. OpenSSH reuses handle values at once, so closing twice could close
   * another file's handle.
   */
  closed?: boolean
}

/**
 * Opens `path` on each channel: a read's lanes all at once, a write's in parallel after the first
 * (which creates the file the others open). If any open fails, the handles already opened are
 * closed: a failed attempt leaks nothing on the server. Lanes on another connection than the
 * first may have reached another backend (see sameFileOnly): one that lacks the file, or holds
 * another, is dropped and the file goes on with fewer lanes.
 */
export function openLanes(
  channels: SftpChannel[],
  path: string,
  firstFlags: 'r' | 'r+' | 'w',
  restFlags: 'r' | 'r+'
): Promise<Lane[]> {
  // Most files are small and have one lane: none of the spreading below applies, and with
  // tens of thousands of files its arrays and promises (and an async frame) showed up in the
  // collector's time.
  if (channels.length === 1) {
    const channel = channels[0]
    return channel.open(path, firstFlags).then(handle => [{ channel, handle }])
  }
  return openSpread(channels, path, firstFlags, restFlags)
}

async function openSpread(
  channels: SftpChannel[],
  path: string,
  firstFlags: 'r' | 'r+' | 'w',
  restFlags: 'r' | 'r+'
): Promise<Lane[]> {
  const [head, ...others] = channels
  const elsewhere = (c: SftpChannel): boolean => !c.sharesConnectionWith(head)
  const spread = others.some(elsewhere)
  const opening = head.open(path, firstFlags)
  // Each other connection's stat is sent right behind its open, so which file it sees costs no
  // round trip of its own (see sameFileOnly).
  const send = () =>
    others.map(c => ({
      open: settle(c.open(path, restFlags)),
      stat: elsewhere(c) ? settle(c.stat(path)) : undefined
    }))
  // A read creates nothing, so all its lanes open at once; a write's other lanes open the file
  // its first open creates, so they wait for it (and the first lane's stat goes out with them).
  const together = firstFlags === 'r'
  const early = together ? send() : undefined
  const ownStat = together && spread ? settle(head.stat(path)) : undefined
  let first: Lane
  try {
    first = { channel: head, handle: await opening }
  } catch (err) {
    const handles = await Promise.all((early ?? []).map(r => r.open))
    await closeLanes(
      handles.flatMap((r, i) =>
        r.status === 'fulfilled' ? [{ channel: others[i], handle: r.value }] : []
      )
    ).catch(() => undefined)
    throw err
  }
  const requests = early ?? send()
  const own = ownStat ?? (spread ? settle(head.fstat(first.handle)) : undefined)
  const rest = await Promise.all(requests.map(r => r.open))
  const opened = rest.map((r, i) =>
    r.status === 'fulfilled' ? { channel: others[i], handle: r.value } : undefined
  )
  const lanes = [first, ...opened.filter((l): l is Lane => l !== undefined)]
  const failed = rest.find(
    (r, i) =>
      r.status === 'rejected' &&
      !(elsewhere(others[i]) && (r.reason as SftpError)?.code === SFTP_STATUS.NO_SUCH_FILE)
  )
  if (failed?.status === 'rejected') {
    await closeLanes(lanes).catch(() => undefined)
    throw failed.reason
  }
  const stats = new Map<Lane, Promise<PromiseSettledResult<RemoteStat>>>()
  opened.forEach((lane, i) => {
    const stat = requests[i].stat
    if (lane && stat) stats.set(lane, stat)
  })
  const kept = await sameFileOnly(lanes, own, stats)
  if (kept.length < channels.length) {
    core.debug(
      `${forLog(path)}: ${channels.length - kept.length} of ${channels.length} lanes on other ` +
        `connections do not see the same file (another backend?); using ${kept.length}.`
    )
  }
  return kept
}

function settle<T>(request: Promise<T>): Promise<PromiseSettledResult<T>> {
  return request.then(
    value => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason })
  )
}

/**
 * The lanes that provably see the first lane's file. A name behind a jump host is resolved by
 * the bastion for each connection, so a round-robin name or a load balancer can send extra
 * connections to other backends: their lanes are kept only if the file there has the same size
 * and mtime. `own` is the first lane's stat, `stats` those of the lanes on other connections,
 * each taken on the lane's own channel right behind its open.
 */
async function sameFileOnly(
  lanes: Lane[],
  own: Promise<PromiseSettledResult<RemoteStat>> | undefined,
  stats: Map<Lane, Promise<PromiseSettledResult<RemoteStat>>>
): Promise<Lane[]> {
  if (!own) return lanes
  const others = [...stats.keys()]
  const [mine, ...theirs] = await Promise.all([own, ...stats.values()])
  if (mine.status === 'rejected') {
    await closeLanes(lanes).catch(() => undefined)
    throw mine.reason
  }
  const differ = new Set(
    others.filter((_, i) => {
      const t = theirs[i]
      return (
        t.status === 'rejected' ||
        t.value.size !== mine.value.size ||
        t.value.mtime !== mine.value.mtime
      )
    })
  )
  // Not awaited: nothing is read or written through these, and the file need not wait.
  closeLanes([...differ]).catch(() => undefined)
  return lanes.filter(l => !differ.has(l))
}

export async function closeLanes(lanes: Lane[]): Promise<void> {
  if (lanes.length === 1) {
    const lane = lanes[0]
    if (lane.closed) return
    lane.closed = true
    return lane.channel.close(lane.handle)
  }
  const open = lanes.filter(l => !l.closed)
  for (const lane of open) lane.closed = true
  const results = await Promise.allSettled(open.map(l => l.channel.close(l.handle)))
  const failed = results.find(r => r.status === 'rejected')
  if (failed?.status === 'rejected') throw failed.reason
}
