// Per-role NATS users of a cluster started by `troupe up`: one user per role, each with the subjects it may
// publish and subscribe to, written as nats-server's `authorization { users: [...] }` block.
//   operator    the command line (`troupe ps`, `kill`, `train`, …): everything
//   controller  the job service, coordinators, supervisors (they start and stop actors): everything
//   agent       host agents: everything but asking agents to start or kill, supervisors to restart or stop,
//               writing actor records, submitting jobs
//   worker      training, inference and dedup actors: none of the above, nor host records, exit reports,
//               the job service's subjects, or deleting, purging or reconfiguring streams and buckets; it may not
//               subscribe to agents', supervisors' or the job service's subjects (it could answer in their name)
// A connection without credentials is refused. A secret is handed around as one string, `<user>:<password>`
// (connection.ts tells it from a token, which never holds ':').
import type { Namespace } from "./namespace.ts";

export const ROLES = ["operator", "controller", "agent", "worker"] as const;
export type Role = (typeof ROLES)[number];

interface SubjectRules {
  allow: string[];
  deny: string[];
}

interface RolePermissions {
  publish: SubjectRules;
  subscribe: SubjectRules;
}

/** What each role may publish and subscribe to in the cluster `ns`. */
function rolePermissions(ns: Namespace): Record<Role, RolePermissions> {
  const root = `troupe.${ns.clusterId}`;
  const everything: RolePermissions = { publish: { allow: [">"], deny: [] }, subscribe: { allow: [">"], deny: [] } };
  const startStop = [`${root}.agent.*.spawn`, `${root}.agent.*.kill`, `${root}.sup.*.restart`, `${root}.sup.*.stop`];
  const kvWrite = (bucket: string) => `$KV.${bucket}.>`;
  const streamAdmin = ["DELETE", "PURGE", "UPDATE", "MSG.DELETE"].map((op) => `$JS.API.STREAM.${op}.>`);
  return {
    operator: everything,
    controller: everything,
    agent: {
      publish: { allow: [">"], deny: [...startStop, kvWrite(ns.actorsBucket), `${root}.jobs.>`] },
      subscribe: { allow: [">"], deny: [] },
    },
    worker: {
      publish: {
        allow: [">"],
        deny: [
          `${root}.agent.>`,
          `${root}.sup.>`,
          `${root}.jobs.>`,
          `${root}.exit.>`,
          kvWrite(ns.actorsBucket),
          kvWrite(ns.hostsBucket),
          kvWrite(ns.jobsBucket),
          ...streamAdmin,
        ],
      },
      subscribe: { allow: [">"], deny: [`${root}.agent.>`, `${root}.sup.>`, `${root}.jobs.>`] },
    },
  };
}

/** A role's secret as connectNats takes it. */
export function roleSecret(role: Role, password: string): string {
  return `${role}:${password}`;
}

/** nats-server's `authorization` block for the roles' passwords. */
export function authorizationBlock(ns: Namespace, passwords: Record<Role, string>): string {
  const perms = rolePermissions(ns);
  const rules = (r: SubjectRules) => `{ allow: ${JSON.stringify(r.allow)}, deny: ${JSON.stringify(r.deny)} }`;
  const users = ROLES.map(
    (role) =>
      `    { user: ${JSON.stringify(role)}, password: ${JSON.stringify(passwords[role])}, permissions: ` +
      `{ publish: ${rules(perms[role].publish)}, subscribe: ${rules(perms[role].subscribe)} } }`,
  );
  return `authorization {\n  users: [\n${users.join("\n")}\n  ]\n}`;
}
