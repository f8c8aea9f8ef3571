// Every subject, bucket and stream name of one cluster, derived from its id, so two clusters on the
// same nats-server never see each other's traffic or state.
import { ConfigError } from "./errors.ts";

const CLUSTER_ID = /^[A-Za-z0-9_-]{1,40}$/;
const TOKEN = /^[A-Za-z0-9_-]+$/;

export interface Namespace {
  clusterId: string;
  actorsBucket: string;
  hostsBucket: string;
  /** Lifecycle snapshots of machines other than actor records (jobs, workers' own view). */
  lifecyclesBucket: string;
  eventsStream: string;
  logsStream: string;
  /** Jobs submitted to the cluster, their committed progress and flags (one key per job). */
  jobsBucket: string;
  /** What each job's coordinator shows its followers (`troupe attach`): jobout.<job id>. */
  jobOutputStream: string;
  jobOutputSubject(jobId: string): string;
  /** The cluster's job service: submit a job; a coordinator says its job ended. */
  jobsSubject(verb: "submit" | "ended" | "ping"): string;
  /** events.<kind>.<subject> */
  eventSubject(kind: string, about: string): string;
  eventsFilter: string;
  logSubject(actorId: string): string;
  heartbeatSubject(actorId: string): string;
  heartbeatsFilter: string;
  agentSubject(host: string, verb: "spawn" | "kill" | "ping"): string;
  exitsFilter: string;
  exitSubject(host: string): string;
  actorCommandSubject(actorId: string): string;
  supervisorSubject(supervisorId: string, verb: "restart" | "stop" | "ping"): string;
}

/** Actor, host and supervisor ids become subject tokens: letters, digits, `_` and `-` only. */
export function checkName(kind: string, name: string): string {
  if (!TOKEN.test(name)) throw new ConfigError(`${kind} '${name}' may contain only letters, digits, '_' and '-'`);
  return name;
}

export function namespace(clusterId: string): Namespace {
  if (!CLUSTER_ID.test(clusterId)) {
    throw new ConfigError(`cluster id '${clusterId}' must be 1-40 letters, digits, '_' or '-'`);
  }
  const root = `troupe.${clusterId}`;
  const name = (s: string) => `troupe_${clusterId}_${s}`;
  return {
    clusterId,
    actorsBucket: name("actors"),
    hostsBucket: name("hosts"),
    lifecyclesBucket: name("lifecycles"),
    eventsStream: name("events"),
    logsStream: name("logs"),
    jobsBucket: name("jobs"),
    jobOutputStream: name("jobout"),
    jobOutputSubject: (jobId) => `${root}.jobout.${checkName("job id", jobId)}`,
    jobsSubject: (verb) => `${root}.jobs.${verb}`,
    eventSubject: (kind, about) => `${root}.events.${checkName("event kind", kind)}.${checkName("id", about)}`,
    eventsFilter: `${root}.events.>`,
    logSubject: (actorId) => `${root}.logs.${checkName("actor id", actorId)}`,
    heartbeatSubject: (actorId) => `${root}.hb.${checkName("actor id", actorId)}`,
    heartbeatsFilter: `${root}.hb.*`,
    agentSubject: (host, verb) => `${root}.agent.${checkName("host", host)}.${verb}`,
    exitsFilter: `${root}.exit.*`,
    exitSubject: (host) => `${root}.exit.${checkName("host", host)}`,
    actorCommandSubject: (actorId) => `${root}.actor.${checkName("actor id", actorId)}.cmd`,
    supervisorSubject: (id, verb) => `${root}.sup.${checkName("supervisor id", id)}.${verb}`,
  };
}
