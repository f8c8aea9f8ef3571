// Step rate around kills, in 1 s bins from `before` s before the kill to `after` s after it, averaged over kills:
// shows how long a kill's cost lasts after the job steps again (cold replacement, the agent refilling its spare).
export function rateProfile(commits: readonly number[], kills: readonly number[], before = 5, after = 20): number[] {
  const bins = new Array<number>(before + after).fill(0);
  for (const k of kills) {
    for (const t of commits) {
      const b = Math.floor((t - k) / 1000) + before;
      if (b >= 0 && b < bins.length) bins[b]!++;
    }
  }
  return bins.map((n) => n / Math.max(1, kills.length));
}
