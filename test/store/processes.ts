import { spawnSync } from 'node:child_process';

/** The pid of a process that has already exited (so, on this host, a dead pid). */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  if (child.pid === undefined || child.status !== 0) throw new Error('could not run node');
  return child.pid;
}
