// Public face of the actor runtime. Other parts (coordinator, workers, CLI) import from here.
//
// Pieces and how they fit:
// - codec / tensor / messages: msgpack wire format with a zero-copy tensor extension; every incoming
//   message is decoded with `decodeAs` / `decodeFenced` (zod schema + epoch fence) → value or error.
// - connection / namespace: `connectNats` (reconnect forever, status callback) and the subjects,
//   KV buckets and streams of one cluster id.
// - registry / event-log: KV records (one key per actor, one per host) and the durable event stream
//   (message ids: a retried publish is stored once).
// - rpc: `serve` (validated request handler: bad input → error reply + onReject) and `call`.
// - machines/*: xstate lifecycles (actor record, worker, job); supervisor drives actor records.
// - supervisor / escalation / backoff / timeouts: OTP supervision over host agents.
// - actor-process: the process side (env from the host agent, heartbeats, fenced commands).
export * from "./types.ts";
export * from "./errors.ts";
export { Tensor, DTYPES, type DType, type TensorData } from "./tensor.ts";
export { encode, decode, TENSOR_EXTENSION_TYPE } from "./codec.ts";
export {
  decodeAs,
  decodeFenced,
  heartbeatSchema,
  spawnRequestSchema,
  killRequestSchema,
  exitReportSchema,
  actorCommandSchema,
  replySchema,
  type Decoded,
  type ActorCommand,
  type KillRequest,
  type Reply,
} from "./messages.ts";
export { connectNats, type ConnectOptions, type ConnectionStatus } from "./connection.ts";
export { namespace, checkName, type Namespace } from "./namespace.ts";
export { Registry } from "./registry.ts";
export { EventLog, type StoredEvent } from "./event-log.ts";
export { ensureStream, readStream, type StreamSpec, type ReadOptions } from "./streams.ts";
export { serve, call, parseWith, type ServeOptions, type Rejection } from "./rpc.ts";
export { retrying } from "./retry.ts";
export { validateTimeouts, DEFAULT_TIMEOUTS } from "./timeouts.ts";
export { backoffDelay, RestartIntensity, validateBackoff, validateIntensity, DEFAULT_BACKOFF, DEFAULT_INTENSITY } from "./backoff.ts";
export { RestartingParent, StoppingParent } from "./escalation.ts";
export { describeExit } from "./exit-cause.ts";
export { Supervisor, recordState, type SupervisorDeps, type SupervisorState, type TransitionListener } from "./supervisor.ts";
export { actorRecordMachine, type ActorRecordContext, type ActorRecordEvent, type ActorRecordInput } from "./machines/actor-record.ts";
export { workerMachine, type WorkerContext, type WorkerEvent } from "./machines/worker.ts";
export { jobMachine, type JobContext, type JobEvent } from "./machines/job.ts";
export { ActorProcess, actorEnvironment, defaultCommandHandler, type ActorEnvironment, type CommandHandler } from "./actor-process.ts";
export { createRootLogger, actorLogger, type Logger } from "./logger.ts";
export { startNatsServer, natsServerAvailable, NatsServerMissingError, NatsServerStartError, type NatsServerHandle, type NatsServerOptions } from "./nats-server.ts";
export { LifecycleStore, recordLifecycle, type LifecycleRecord, type RecorderHandle } from "./lifecycle-recorder.ts";
