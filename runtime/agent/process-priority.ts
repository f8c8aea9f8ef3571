// Scheduling priority (nice value) of a whole process. On Linux the nice value belongs to each thread, so every
// thread listed in /proc/<pid>/task is set (threads started later inherit it from the thread that starts them);
// elsewhere only the pid. Raising a nice value is always allowed; lowering it again needs privilege.
import { readdirSync } from "node:fs";
import os from "node:os";

/** Sets the nice value of every thread of `pid`; false when the system refused (no privilege, process gone). */
export function setProcessPriority(pid: number, priority: number): boolean {
  let threads: number[];
  try {
    threads = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    threads = [pid];
  }
  try {
    for (const t of threads) os.setPriority(t, priority);
    return true;
  } catch {
    return false;
  }
}
