# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real single-node Slurm on localhost, in a scratch directory, for the
tests of the SPANK plugin (tools/slurm) and its bench.

    with Cluster(work, plugin=..., cachectld=...) as c:
        c.srun(['--cachectl-pin=' + d, 'true'])

munged runs with its own key, socket, pid, log and seed files; slurmctld
and slurmd run in the foreground (-D) from a generated slurm.conf with
ports picked free at run time, state and spool under the scratch dir,
proctrack/linuxproc and task/none (no cgroups), and a plugstack.conf that
loads the built plugin. A system-scope cachectld with its own store and
socket dirs keeps the pins. Everything started is killed at the end, also
on failure. Skip (with the reason) only if a daemon cannot start here.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from cachectl_test import Conn, ProtoError, Skip, ival, run, wait_for

NEEDED = ('munged', 'slurmctld', 'slurmd', 'srun', 'sinfo', 'scancel', 'squeue')


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self, work, plugin, cachectld, bindir, stage_timeout=0):
        self.work = work
        self.plugin = plugin
        self.cachectld = cachectld
        self.bindir = bindir
        self.stage_timeout = stage_timeout
        self.procs = []
        self.dir = os.path.join(work, 'slurm')
        self.run_dir = os.path.join(self.dir, 'run')     # cachectld socket
        self.state_dir = os.path.join(self.dir, 'pins')  # cachectld store
        self.sock = os.path.join(self.run_dir, 'cachectld.sock')
        self.conf = os.path.join(self.dir, 'slurm.conf')

    # ---- set-up ---------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def env(self, **extra):
        e = dict(os.environ)
        e['SLURM_CONF'] = self.conf
        e['PATH'] = self.bindir + ':' + e.get('PATH', '/usr/bin:/bin')
        e['CACHECTL_RUNTIME_DIR'] = self.run_dir
        e['CACHECTL_STATE_DIR'] = self.state_dir
        e.update(extra)
        return e

    def spawn(self, name, cmd, env=None):
        log = open(os.path.join(self.dir, name + '.out'), 'wb')
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, env=env or self.env(),
                             start_new_session=True)
        log.close()
        self.procs.append((name, p))
        return p

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + '.out'), 'rb') as f:
                return f.read().decode(errors='replace')[-3000:]
        except OSError:
            return ''

    def start(self):
        for exe in NEEDED:
            if not shutil.which(exe, path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin'):
                raise Skip('%s is not installed (Debian: slurmd slurmctld munge)' % exe)
        if os.geteuid() != 0:
            raise Skip('slurmd and slurmctld run as root here (SlurmUser=root)')
        for d in ('munge', 'state', 'spool', 'run', 'pins'):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        m = os.path.join(self.dir, 'munge')
        os.chmod(m, 0o711)
        with open(os.path.join(m, 'munge.key'), 'wb') as f:
            f.write(os.urandom(1024))
        os.chmod(os.path.join(m, 'munge.key'), 0o600)
        self.munge_sock = os.path.join(m, 'munge.sock')
        sbin = '/usr/sbin/'
        self.spawn('munged', [sbin + 'munged', '-F', '-f',
                              '--socket=' + self.munge_sock,
                              '--key-file=' + os.path.join(m, 'munge.key'),
                              '--pid-file=' + os.path.join(m, 'munged.pid'),
                              '--log-file=' + os.path.join(m, 'munged.log'),
                              '--seed-file=' + os.path.join(m, 'munged.seed')])
        ok, _ = wait_for(lambda: os.path.exists(self.munge_sock), 10)
        if not ok:
            raise Skip('munged did not start: ' + self.log('munged'))

        # the system daemon that holds the jobs' pins
        self.spawn('cachectld', [self.cachectld, '--system', '-v',
                                 '--socket', self.sock,
                                 '--state-dir', self.state_dir])
        ok, _ = wait_for(lambda: self.ping(), 20)
        if not ok:
            raise RuntimeError('cachectld did not answer: ' + self.log('cachectld'))

        with open(os.path.join(self.dir, 'plugstack.conf'), 'w') as f:
            f.write('required %s runtime_dir=%s%s\n' % (
                self.plugin, self.run_dir,
                ' stage_timeout=%d' % self.stage_timeout if self.stage_timeout else ''))
        host = socket.gethostname().split('.')[0]
        d = self.dir
        conf = {
            'ClusterName': 'cctest',
            'SlurmctldHost': '%s(127.0.0.1)' % host,
            'SlurmctldPort': free_port(),
            'SlurmdPort': free_port(),
            'AuthType': 'auth/munge',
            'CredType': 'cred/munge',
            'AuthInfo': 'socket=' + self.munge_sock,
            'SlurmUser': 'root',
            'SlurmdUser': 'root',
            'StateSaveLocation': d + '/state',
            'SlurmdSpoolDir': d + '/spool',
            'SlurmctldPidFile': d + '/slurmctld.pid',
            'SlurmdPidFile': d + '/slurmd.pid',
            'SlurmctldLogFile': d + '/slurmctld.log',
            'SlurmdLogFile': d + '/slurmd.log',
            'ProctrackType': 'proctrack/linuxproc',
            'TaskPlugin': 'task/none',
            'SelectType': 'select/cons_tres',
            'SelectTypeParameters': 'CR_Core_Memory',
            'DefMemPerCPU': 1000,
            'JobAcctGatherType': 'jobacct_gather/none',
            'AccountingStorageType': 'accounting_storage/none',
            'JobCompType': 'jobcomp/none',
            'MpiDefault': 'none',
            'SwitchType': 'switch/none',
            'ReturnToService': 2,
            'KillWait': 2,
            'MinJobAge': 2,
            'InactiveLimit': 0,
            'PlugStackConfig': d + '/plugstack.conf',
        }
        with open(self.conf, 'w') as f:
            for k, v in conf.items():
                f.write('%s=%s\n' % (k, v))
            f.write('NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 '
                    'RealMemory=4000 State=UNKNOWN\n')
            f.write('PartitionName=debug Nodes=localhost Default=YES '
                    'MaxTime=INFINITE State=UP\n')
        self.spawn('slurmctld', [sbin + 'slurmctld', '-D', '-i'])
        self.spawn('slurmd', [sbin + 'slurmd', '-D', '-N', 'localhost'])

        def idle():
            for name, p in self.procs:
                if p.poll() is not None:
                    raise Skip('%s exited (%s): %s' % (name, p.returncode,
                                                        self.log(name)))
            r = run(['sinfo', '-h', '-o', '%t'], env=self.env(), timeout=10)
            return r.rc == 0 and r.text.strip() == 'idle'
        ok, _ = wait_for(idle, 60, 0.3)
        if not ok:
            raise Skip('slurmd did not come up idle: ' + self.log('slurmd'))

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        t0 = time.monotonic()
        for name, p in reversed(self.procs):
            try:
                p.wait(max(0.1, 10 - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        # steps forked by slurmd live in their own sessions
        for pidf in ('slurmd.pid', 'slurmctld.pid'):
            self._kill_pidfile(os.path.join(self.dir, pidf))
        self._kill_stepds()
        self.procs = []

    def _kill_pidfile(self, path):
        try:
            with open(path) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def _kill_stepds(self):
        """SIGKILL the slurmstepd processes of this cluster (their
        environment names our slurm.conf). Returns how many."""
        n = 0
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/comm' % pid) as f:
                    if not f.read().startswith('slurmstepd'):
                        continue
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    cmd = f.read()
                with open('/proc/%s/environ' % pid, 'rb') as f:
                    env = f.read()
            except OSError:
                continue
            if self.conf.encode() in env or self.dir.encode() in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    n += 1
                except OSError:
                    pass
        return n

    kill_stepds = _kill_stepds

    def run_cmd(self, cmd, timeout=60):
        return run(cmd, env=self.env(), timeout=timeout)

    # ---- use --------------------------------------------------------------

    def srun(self, args, timeout=120):
        return run(['srun', '-N1', '-n1'] + args, env=self.env(), timeout=timeout)

    def srun_bg(self, args, out):
        f = open(out, 'wb')
        p = subprocess.Popen(['srun', '-N1', '-n1'] + args, env=self.env(),
                             stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True)
        f.close()
        self.procs.insert(0, ('srun', p))
        return p

    def job_ids(self):
        r = run(['squeue', '-h', '-o', '%i'], env=self.env(), timeout=10)
        return [int(x) for x in r.text.split()]

    def ping(self):
        try:
            c = Conn(self.sock)
        except (OSError, ProtoError):
            return False
        try:
            return c.call('PING')[0] == 'OK'
        except (OSError, ProtoError):
            return False
        finally:
            c.close()

    def holds(self):
        """The daemon's holds over its own protocol: [(path, holder)]."""
        c = Conn(self.sock)
        try:
            verb, f = c.call('HOLDS')
            if verb != 'OK':
                raise ProtoError('HOLDS: %s %r' % (verb, f))
            out = []
            for _ in range(ival(f, 'count')):
                v, h = c.recv(timeout=5.0)
                out.append((os.fsdecode(h['path']), h['holder'].decode()))
            return out
        finally:
            c.close()

    def status(self, path):
        """STATUS of a pin by the daemon, or None if it has none."""
        c = Conn(self.sock)
        try:
            verb, f = c.call('STATUS', [('path', path)])
            return f if verb == 'OK' else None
        finally:
            c.close()
