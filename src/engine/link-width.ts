/**
 * How much a connection keeps in flight, by how far away the server is: round trips decide how
 * many files and channels it takes to keep the server and the runner busy.
 */

/**
 * How many channels one big file needs. Each channel carries at most its 2 MiB window per round
 * trip, so far servers need many; on a near link two already saturate the CPU, and every extra
 * channel only adds memory (requests waiting in ssh2's queues). One channel per 5 ms of round
 * trip, at least two.
 */
export function bigFileLanes(roundTripMs: number, available: number): number {
  return Math.max(Math.min(2, available), Math.min(available, Math.ceil(roundTripMs / 5)))
}

/**
 * A round trip under this is near. It is not a network test: on a loaded 2-core machine a
 * loopback connection's setup took 12.5 ms a round trip, and under hundreds of requests in
 * flight even the quickest answer waits its turn. It does not need to be one: 512 places, each
 * held about two round trips, carry 12,800 small files a second at 20 ms, twice what the
 * runner's CPU moves.
 */
const NEAR_LINK_MS = 20
/** Files in flight on a near link (see filesAtOnce). */
export const NEAR_LINK_FILES = 512

/**
 * A round trip under this is very near: a loopback or a LAN. On this VM's loaded loopback the
 * quickest answer before the files went was 2.7-6.2 ms (more under heavier load; a round that
 * starts wider narrows once it drops). 128 places, each held about two round trips, still carry
 * 8,000 small files a second at 8 ms, more than the runner's CPU moves.
 */
const VERY_NEAR_LINK_MS = 8
/** Files in flight on a very near link (see filesAtOnce). */
export const VERY_NEAR_LINK_FILES = 128

/**
 * How many files a connection keeps open at once, given what its channels' handle limits allow.
 * Past what the round trip needs, places only hold memory and collector work: on a near link
 * 1024 instead of 512 peaked at 177-185 against 164-168 MiB in a 50,000-file loopback deploy,
 * with more client CPU and no faster; 128 instead of 512 used 10-16% less client CPU and
 * 9-10 MiB less in each of ten side-by-side pairs. A far link gets them all: at 50 ms, 1024
 * places instead of 512 pulled 10,000 files in 3.52 s instead of 3.94 s.
 */
export function filesAtOnce(handles: number, roundTripMs: number): number {
  if (roundTripMs < VERY_NEAR_LINK_MS) return Math.min(handles, VERY_NEAR_LINK_FILES)
  return roundTripMs < NEAR_LINK_MS ? Math.min(handles, NEAR_LINK_FILES) : handles
}
