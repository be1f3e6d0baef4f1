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
 * How many files a connection keeps open at once, given what its channels' handle limits allow.
 * On a near link more than 512 only held memory and collector work (a 50,000-file loopback
 * deploy: 177-185 against 164-168 MiB peak, and more client CPU, no faster). A far link gets
 * them all: at 50 ms, 1024 places instead of 512 pulled 10,000 files in 3.52 s instead of
 * 3.94 s.
 */
export function filesAtOnce(handles: number, roundTripMs: number): number {
  return roundTripMs < NEAR_LINK_MS ? Math.min(handles, NEAR_LINK_FILES) : handles
}
