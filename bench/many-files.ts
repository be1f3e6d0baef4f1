/**
 * Many small files against what users script instead of an SFTP action: `rsync -a` over ssh for
 * deploys, `ssh host tar c | tar x` for pulls and a tar pipe through the runner for relays. Same
 * server, same files, same pinned known_hosts for the anchors; every result checked byte for byte.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { runRsyncPush, runTarPull, runTarRelay, type SshTarget } from './lib/anchors.js'
import {
  diffTrees,
  manyFileSizes,
  treeHashes,
  writeManyFiles,
  type SmallTree
} from './lib/files.js'
import type { TimedResult } from './lib/proc.js'
import type { Runner, Scenario, ToolRun } from './lib/scenario.js'

export interface ManyFilesContext {
  workspace: string
  runs: number
  scale: number
  /** Loopback and through the 50 ms proxy. */
  direct: SshTarget
  delayed: SshTarget
  inputs: (port: number) => Record<string, string>
  action: (inputs: Record<string, string>, bytes: number, expectFiles: number) => Promise<ToolRun>
  /** Throws when the anchor tool failed; otherwise its measures. */
  tool: (what: string, result: TimedResult) => ToolRun
  timeoutFor: (bytes: number) => number
}

interface Shape {
  count: number
  dirs: number
}

/** 2000 files of 1-7 KiB (about 8 MiB) in 20 folders; the larger trees keep 200 files a folder. */
const SHAPES = {
  small: { count: 2000, dirs: 20 },
  medium: { count: 10_000, dirs: 50 },
  large: { count: 50_000, dirs: 250 }
} satisfies Record<string, Shape>

export function manyFilesScenarios(ctx: ManyFilesContext): Scenario[] {
  const trees = new Map<keyof typeof SHAPES, Promise<SmallTree & { root: string }>>()
  const scaled = (shape: Shape): Shape => ({
    count: Math.max(20, Math.round(shape.count * ctx.scale)),
    dirs: Math.max(2, Math.round(shape.dirs * Math.min(1, ctx.scale * 10)))
  })
  /** Made on first use, so only the scenarios that run pay for their tree. */
  const tree = (size: keyof typeof SHAPES) => {
    let made = trees.get(size)
    if (!made) {
      const { count, dirs } = scaled(SHAPES[size])
      const root = path.join(ctx.workspace, `many-${size}`)
      made = writeManyFiles(root, count, dirs).then(t => ({ ...t, root }))
      trees.set(size, made)
    }
    return made
  }
  const verify = async (expected: Map<string, string>, dir: string): Promise<void> => {
    const got = await treeHashes(dir)
    // The action's own bookkeeping for `sync: changed`, not part of the tree.
    got.delete('.pinned-sftp-state.json')
    const problem = diffTrees(expected, got)
    if (problem) throw new Error(`verification: ${problem}`)
  }

  const deploy = (
    size: keyof typeof SHAPES,
    via: SshTarget
  ): Pick<Scenario, 'action' | 'openssh'> => ({
    action: async runDir => {
      const t = await tree(size)
      const remote = path.join(runDir, 'remote')
      const run = await ctx.action(
        { ...ctx.inputs(via.port), source: path.relative(ctx.workspace, t.root), target: remote },
        t.bytes,
        t.files
      )
      await verify(t.hashes, remote)
      return run
    },
    openssh: async runDir => {
      const t = await tree(size)
      const remote = path.join(runDir, 'remote')
      fs.mkdirSync(remote)
      const run = ctx.tool(
        'rsync',
        await runRsyncPush(via, t.root, remote, ctx.timeoutFor(t.bytes))
      )
      await verify(t.hashes, remote)
      return run
    }
  })

  /**
   * A deploy after an earlier one (not timed), with `changed` files edited in between: the
   * action with `sync: changed`, rsync with its size-and-time check.
   */
  const redeploy = (
    size: keyof typeof SHAPES,
    changed: number,
    via: SshTarget
  ): Pick<Scenario, 'action' | 'openssh'> => {
    const prepare = async (runDir: string) => {
      const t = await tree(size)
      const copy = fs.mkdtempSync(path.join(ctx.workspace, 'redeploy-'))
      fs.cpSync(t.root, copy, { recursive: true, preserveTimestamps: true })
      const remote = path.join(runDir, 'remote')
      const edit = async () => {
        const rels = [...t.hashes.keys()].sort().slice(0, changed)
        const later = new Date(Date.now() + 5000)
        for (const rel of rels) {
          fs.appendFileSync(path.join(copy, rel), 'edited\n')
          fs.utimesSync(path.join(copy, rel), later, later)
        }
        return treeHashes(copy)
      }
      return { t, copy, remote, edit }
    }
    return {
      action: async runDir => {
        const { t, copy, remote, edit } = await prepare(runDir)
        try {
          const inputs = {
            ...ctx.inputs(via.port),
            source: path.relative(ctx.workspace, copy),
            target: remote,
            sync: 'changed'
          }
          await ctx.action(inputs, t.bytes, t.files)
          const expected = await edit()
          const run = await ctx.action(inputs, t.bytes, changed)
          await verify(expected, remote)
          return run
        } finally {
          fs.rmSync(copy, { recursive: true, force: true })
        }
      },
      openssh: async runDir => {
        const { t, copy, remote, edit } = await prepare(runDir)
        try {
          fs.mkdirSync(remote)
          ctx.tool('rsync', await runRsyncPush(via, copy, remote, ctx.timeoutFor(t.bytes)))
          const expected = await edit()
          const run = ctx.tool(
            'rsync',
            await runRsyncPush(via, copy, remote, ctx.timeoutFor(t.bytes))
          )
          await verify(expected, remote)
          return run
        } finally {
          fs.rmSync(copy, { recursive: true, force: true })
        }
      }
    }
  }

  const pull = (
    size: keyof typeof SHAPES,
    via: SshTarget
  ): Pick<Scenario, 'action' | 'openssh'> => ({
    action: async runDir => {
      const t = await tree(size)
      const local = path.join(runDir, 'local')
      const run = await ctx.action(
        { ...ctx.inputs(via.port), direction: 'download', source: t.root, target: local },
        t.bytes,
        t.files
      )
      await verify(t.hashes, local)
      return run
    },
    openssh: async runDir => {
      const t = await tree(size)
      const local = path.join(runDir, 'local')
      const run = ctx.tool('tar', await runTarPull(via, t.root, local, ctx.timeoutFor(t.bytes)))
      await verify(t.hashes, local)
      return run
    }
  })

  const relay = (
    size: keyof typeof SHAPES,
    via: SshTarget
  ): Pick<Scenario, 'action' | 'openssh'> => ({
    action: async runDir => {
      const t = await tree(size)
      const remote = path.join(runDir, 'remote')
      const destination = Object.fromEntries(
        Object.entries(ctx.inputs(via.port)).map(([name, value]) => [`target-${name}`, value])
      )
      const run = await ctx.action(
        {
          ...ctx.inputs(via.port),
          ...destination,
          direction: 'relay',
          source: t.root,
          target: remote
        },
        t.bytes,
        t.files
      )
      await verify(t.hashes, remote)
      return run
    },
    openssh: async runDir => {
      const t = await tree(size)
      const remote = path.join(runDir, 'remote')
      const run = ctx.tool(
        'tar',
        await runTarRelay(via, t.root, via, remote, ctx.timeoutFor(t.bytes))
      )
      await verify(t.hashes, remote)
      return run
    }
  })

  // rsync must be on both ends (here, the same machine); without it those rows say so.
  const noRsync = hasProgram('rsync') ? undefined : 'n/a (rsync not installed)'
  const files = (size: keyof typeof SHAPES) => scaled(SHAPES[size]).count
  const row = (
    id: string,
    title: string,
    size: keyof typeof SHAPES,
    anchor: string,
    targetRatio: number,
    sides: { action?: Runner; openssh?: Runner }
  ): Scenario => ({
    id,
    title,
    kind: 'time',
    bytes: manyFileSizes(files(size)).reduce((a, b) => a + b, 0),
    files: files(size),
    runs: ctx.runs,
    anchor,
    targetRatio,
    ...sides,
    ...(anchor.startsWith('rsync') && noRsync ? { unavailable: noRsync } : {})
  })
  const far = ctx.delayed
  const near = ctx.direct
  return [
    row('deploy-2000-rtt50', 'deploy, 50 ms RTT', 'small', 'rsync -a', 1, deploy('small', far)),
    row(
      'redeploy5-2000-rtt50',
      're-deploy 5 changed, 50 ms RTT',
      'small',
      'rsync -a',
      1,
      redeploy('small', 5, far)
    ),
    row('pull-2000-rtt50', 'pull, 50 ms RTT', 'small', 'ssh+tar', 1, pull('small', far)),
    row('relay-2000-rtt50', 'relay, 50 ms RTT', 'small', 'tar pipe', 1, relay('small', far)),
    row('deploy-10k-rtt50', 'deploy, 50 ms RTT', 'medium', 'rsync -a', 1, deploy('medium', far)),
    row('pull-10k-rtt50', 'pull, 50 ms RTT', 'medium', 'ssh+tar', 1, pull('medium', far)),
    row('deploy-50k-loopback', 'deploy, loopback', 'large', 'rsync -a', 1, deploy('large', near)),
    row(
      'redeploy0-50k-loopback',
      'unchanged re-deploy, loopback',
      'large',
      'rsync -a',
      2,
      redeploy('large', 0, near)
    ),
    row('pull-50k-loopback', 'pull, loopback', 'large', 'ssh+tar', 1, pull('large', near))
  ]
}

function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0
}
