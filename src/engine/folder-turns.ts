/**
 * Which channel (a turn, taken modulo the channel count) each file of a batch writes on. Every
 * file created or renamed takes its folder's lock on the server, and when several sftp-server
 * processes wrote into one folder at once they spun on that lock: `perf` on a 10,000-file
 * deploy at 50 ms put 8% of the whole machine's CPU in the kernel's rwsem_spin_on_owner, and it
 * went to nil with each folder kept to one channel. So a folder keeps to the channel it was given
 * while that channel holds at most twice its share of the files in flight; past that the folder
 * moves to the least busy channel, so a flat tree still spreads over every channel and no
 * channel nears its handle limit. The files keep their order (a folder's files one after
 * another): taking one from each folder in turn spread the server's inode allocations over
 * every folder at once, and a 50,000-file loopback deploy took 15-20% more system time.
 */
export class FolderTurns {
  private readonly owner = new Map<string, number>()
  private readonly load: number[] = []
  /** The cap for the lanes and width last asked about: the same for every file of a session. */
  private capFor: { lanes: ReadonlyArray<unknown>; width: number; cap: number } | undefined

  /**
   * A turn for the next file of `rel`'s folder, over `lanes` with at most `width` files in
   * flight. No channel is given more than half its handle limit, as when files simply took
   * turns (see SftpSession.filesInFlight).
   */
  take(
    rel: string,
    lanes: ReadonlyArray<{ readonly maxOpenHandles: number }>,
    width: number
  ): Turn {
    const folder = rel.slice(0, rel.lastIndexOf('/') + 1)
    const channels = lanes.length
    const cap = this.cap(lanes, width)
    let turn = this.owner.get(folder)
    if (turn === undefined || turn >= channels || (this.load[turn] ?? 0) >= cap) {
      turn = 0
      for (let i = 1; i < channels; i++) if ((this.load[i] ?? 0) < (this.load[turn] ?? 0)) turn = i
      this.owner.set(folder, turn)
    }
    this.load[turn] = (this.load[turn] ?? 0) + 1
    return new Turn(turn, this.load)
  }

  private cap(lanes: ReadonlyArray<{ readonly maxOpenHandles: number }>, width: number): number {
    if (this.capFor?.lanes !== lanes || this.capFor.width !== width) {
      let cap = Math.ceil((2 * width) / lanes.length)
      for (const lane of lanes) cap = Math.min(cap, Math.floor(lane.maxOpenHandles / 2))
      this.capFor = { lanes, width, cap: Math.max(1, cap) }
    }
    return this.capFor.cap
  }
}

/** One file's turn; it counts towards its channel's load until given back, once. */
export class Turn {
  private held = true

  constructor(
    readonly turn: number,
    private readonly load: number[]
  ) {}

  give(): void {
    if (this.held) this.load[this.turn] -= 1
    this.held = false
  }
}
