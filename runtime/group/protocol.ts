// How a group's members are asked things: a protocol maps each verb to the request the asker sends (the group adds
// the epoch) and the reply that comes back, so `ask(member, verb, req)` is typed by its verb.

/** One verb: what is sent (without `epoch`) and what the member answers. */
interface VerbTypes {
  req: object;
  reply: unknown;
}

/** A protocol: verb name → its types (e.g. actors/worker/protocol.ts WorkerProtocol). */
export type Protocol<P> = { [V in keyof P]: VerbTypes };

export type Verb<P> = keyof P & string;
export type RequestOf<P extends Protocol<P>, V extends keyof P> = P[V]["req"];
export type ReplyOf<P extends Protocol<P>, V extends keyof P> = P[V]["reply"];

export interface AskOptions {
  /** Longest the reply may take (default: the group's ask timeout). */
  timeoutMs?: number;
}
