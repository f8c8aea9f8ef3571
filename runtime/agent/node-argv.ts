// The command line of a `node` child, made independent of the directory it starts in: a loader named by a bare
// package name (`--import tsx`) is resolved by node from the child's cwd, so a worker started from any other
// directory than the project's failed with "Cannot find package 'tsx'". The agent resolves such names against its
// own installation (the one that is running troupe) and passes the absolute file URL instead.

/** Options of node whose value is a module specifier. */
const MODULE_OPTIONS = new Set(["--import", "--loader", "--experimental-loader"]);

/** A bare package specifier (`tsx`, `tsx/esm`, `@scope/pkg`), not a path or a URL. */
function isBare(specifier: string): boolean {
  return !/^(\.{1,2}\/|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier) && specifier !== "." && specifier !== "..";
}

/**
 * `args` (node's arguments, the script and its arguments after them) with every bare module specifier given to
 * `--import` / `--loader` replaced by `resolve(specifier)`; one that does not resolve is left as it
 * is (node then reports it). Scans node's options only: everything from the script on is passed unchanged.
 */
export function resolveNodeArgs(args: readonly string[], resolve: (specifier: string) => string = (s) => import.meta.resolve(s)): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const arg = out[i]!;
    if (!arg.startsWith("-")) break; // the script: the rest is its own
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!MODULE_OPTIONS.has(name)) continue;
    if (eq >= 0) {
      out[i] = `${name}=${resolveOr(arg.slice(eq + 1), resolve)}`;
    } else if (i + 1 < out.length) {
      out[i + 1] = resolveOr(out[i + 1]!, resolve);
      i++;
    }
  }
  return out;
}

function resolveOr(specifier: string, resolve: (specifier: string) => string): string {
  if (!isBare(specifier)) return specifier;
  try {
    return resolve(specifier);
  } catch {
    return specifier;
  }
}
