// A generic supervised actor process: heartbeats and answers ping/set-epoch/set-step. Started by a
// host agent (which sets TROUPE_* in its environment). Flags make it misbehave, for fault tests:
//   --crash-on-start CODE   print an error and exit with CODE before connecting
//   --exit-after MS         exit with code 1 after MS milliseconds
import { ActorProcess, actorEnvironment } from "../../runtime/actor-process.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const crash = flag("--crash-on-start");
if (crash !== undefined) {
  console.error(`generic actor: crashing on start as asked (exit ${crash})`);
  process.exit(Number(crash));
}

const actor = new ActorProcess(actorEnvironment());
await actor.start();
const exitAfter = flag("--exit-after");
if (exitAfter !== undefined) {
  setTimeout(() => {
    console.error("generic actor: exiting as asked");
    process.exit(1);
  }, Number(exitAfter));
}
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    void actor.stop().finally(() => process.exit(0));
  });
}
