import {
  ensureOpenSsh,
  planOpenSsh,
  probeOpenSsh,
  type OpenSshProbe
} from '../support/openssh-setup.mjs'
import { requireSshd } from '../support/sshd.js'

// The test setup's decision (test/support/openssh-setup.mjs): apt-get itself cannot run here (it
// needs the network), so ensureOpenSsh gets a recording apt-get that "installs" by changing what
// the next probe finds.

const installed: OpenSshProbe = {
  sshd: '/usr/sbin/sshd',
  keygen: '/usr/bin/ssh-keygen',
  sshdPathSetting: undefined,
  aptGet: '/usr/bin/apt-get',
  root: true
}
const fresh: OpenSshProbe = { ...installed, sshd: undefined, keygen: undefined }

describe('planOpenSsh', () => {
  test('nothing to do when the programs are there', () => {
    expect(planOpenSsh('server', installed)).toEqual({ kind: 'ready' })
    expect(planOpenSsh('client', { ...installed, sshd: undefined })).toEqual({ kind: 'ready' })
  })

  test('as root with apt-get: installs the package the tests need', () => {
    expect(planOpenSsh('server', fresh)).toEqual({
      kind: 'install',
      aptGet: '/usr/bin/apt-get',
      pkg: 'openssh-server',
      missing: ['sshd', 'ssh-keygen']
    })
    expect(planOpenSsh('server', { ...installed, sshd: undefined })).toMatchObject({
      kind: 'install',
      pkg: 'openssh-server',
      missing: ['sshd']
    })
    expect(planOpenSsh('client', fresh)).toMatchObject({
      kind: 'install',
      pkg: 'openssh-client',
      missing: ['ssh-keygen']
    })
  })

  test('not root: stops with the one command to run', () => {
    const plan = planOpenSsh('server', { ...fresh, root: false })
    expect(plan).toEqual({
      kind: 'fail',
      message:
        'OpenSSH sshd and ssh-keygen not found: the tests run real OpenSSH. Install it with: sudo apt-get install -y openssh-server'
    })
  })

  test('no apt-get: names the package and the Debian command', () => {
    const plan = planOpenSsh('client', { ...fresh, aptGet: undefined })
    expect(plan.kind).toBe('fail')
    expect(plan.kind === 'fail' && plan.message).toMatch(
      /^OpenSSH ssh-keygen not found.*package manager.*sudo apt-get install -y openssh-client$/
    )
  })

  test('an SSHD_PATH that is no sshd is reported, never "fixed" by installing', () => {
    const plan = planOpenSsh('server', {
      ...installed,
      sshd: undefined,
      sshdPathSetting: '/x/sshd'
    })
    expect(plan).toEqual({
      kind: 'fail',
      message:
        "SSHD_PATH=/x/sshd is not an executable file: point it at OpenSSH's sshd, or unset it."
    })
  })
})

describe('ensureOpenSsh', () => {
  function fakeMachine(probe: OpenSshProbe, exitCodes: Record<string, number> = {}) {
    let current = probe
    const calls: string[] = []
    const said: string[] = []
    const deps = {
      probe: () => current,
      run: async (file: string, args: string[]) => {
        calls.push(`${file} ${args.join(' ')}`)
        const code = exitCodes[args[0]] ?? 0
        if (args[0] === 'install' && code === 0) current = { ...current, ...installed }
        return { code, output: code === 0 ? '' : 'E: Unable to locate package openssh-server' }
      },
      say: (line: string) => said.push(line)
    }
    return { deps, calls, said }
  }

  test('installs with apt-get update, then install, and says so in one line', async () => {
    const machine = fakeMachine(fresh)
    await ensureOpenSsh('server', machine.deps)
    expect(machine.calls).toEqual([
      '/usr/bin/apt-get update -qq',
      '/usr/bin/apt-get install -y -qq --no-install-recommends openssh-server'
    ])
    expect(machine.said).toHaveLength(1)
    expect(machine.said[0]).toMatch(
      /^OpenSSH sshd and ssh-keygen not found: installing openssh-server/
    )
    expect(machine.said[0]).not.toContain('\n')
  })

  test('does nothing when OpenSSH is there', async () => {
    const machine = fakeMachine(installed)
    await ensureOpenSsh('server', machine.deps)
    expect(machine.calls).toEqual([])
    expect(machine.said).toEqual([])
  })

  test('not root: rejects at once, apt-get untouched', async () => {
    const machine = fakeMachine({ ...fresh, root: false })
    await expect(ensureOpenSsh('server', machine.deps)).rejects.toThrow(
      'Install it with: sudo apt-get install -y openssh-server'
    )
    expect(machine.calls).toEqual([])
  })

  test('a failed apt-get stops with its output and the command to run by hand', async () => {
    const machine = fakeMachine(fresh, { install: 100 })
    const error = await ensureOpenSsh('server', machine.deps).catch((e: Error) => e)
    expect(String(error)).toMatch(
      /apt-get install .*openssh-server failed \(100\); install openssh-server yourself: sudo apt-get install -y openssh-server\nE: Unable to locate package/
    )
  })

  test('a failed update installs nothing', async () => {
    const machine = fakeMachine(fresh, { update: 100 })
    await expect(ensureOpenSsh('client', machine.deps)).rejects.toThrow(/apt-get update -qq failed/)
    expect(machine.calls).toEqual(['/usr/bin/apt-get update -qq'])
  })

  test('still missing after the install: says so rather than letting tests fail', async () => {
    const machine = fakeMachine(fresh)
    machine.deps.run = async (file: string, args: string[]) => {
      machine.calls.push(`${file} ${args.join(' ')}`)
      return { code: 0, output: '' }
    }
    await expect(ensureOpenSsh('server', machine.deps)).rejects.toThrow(
      'openssh-server is installed, but still not found: sshd, ssh-keygen.'
    )
  })
})

describe('SSHD_PATH', () => {
  const saved = process.env.SSHD_PATH
  afterEach(() => {
    if (saved === undefined) delete process.env.SSHD_PATH
    else process.env.SSHD_PATH = saved
  })

  test('is the only sshd the setup and the harness look at', () => {
    process.env.SSHD_PATH = '/nonexistent/sshd'
    expect(probeOpenSsh()).toMatchObject({ sshd: undefined, sshdPathSetting: '/nonexistent/sshd' })
    expect(() => requireSshd()).toThrow('SSHD_PATH=/nonexistent/sshd is not an executable file')
    delete process.env.SSHD_PATH
    const real = requireSshd()
    process.env.SSHD_PATH = real
    expect(probeOpenSsh().sshd).toBe(real)
    expect(requireSshd()).toBe(real)
  })
})
