// The line of a crashed worker's stderr that names the error. Node prints the thrown error near the
// top and its own version last, so the last line alone rarely explains a crash.
export function crashLine(stderrTail: string): string | undefined {
  const lines = stderrTail.split("\n").map((l) => l.trim());
  const line = lines.find((l) => /^([A-Z]\w*)?Error\b.*:/.test(l) || /^\w+Error \[/.test(l));
  return line?.slice(0, 300);
}
