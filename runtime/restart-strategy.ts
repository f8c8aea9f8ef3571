// OTP restart strategies as a pure function: which siblings of a failed child restart with it.
//   one_for_one  → none;  one_for_all → every live sibling;  rest_for_one → the live siblings started after it.
import type { RestartStrategy } from "./types.ts";

/** The ids (in start order) of the live siblings that restart with `failed`. */
export function affectedSiblings(strategy: RestartStrategy, children: readonly { id: string; dead: boolean }[], failed: string): string[] {
  const live = (c: { id: string; dead: boolean }) => c.id !== failed && !c.dead;
  switch (strategy) {
    case "one_for_one":
      return [];
    case "one_for_all":
      return children.filter(live).map((c) => c.id);
    case "rest_for_one":
      return children
        .slice(children.findIndex((c) => c.id === failed) + 1)
        .filter(live)
        .map((c) => c.id);
  }
}
