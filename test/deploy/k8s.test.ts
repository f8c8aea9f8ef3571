// deploy/k8s, rendered as `kubectl apply -k` renders it: every object valid against its kind's Kubernetes schema,
// the facts that tie the objects together, nats-server accepting the configuration with the users made as
// docs/guide/kubernetes.md says, and troupe's own readers accepting the cluster file and the training config.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { IContainer, IService } from "kubernetes-models/v1";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { parseTrainConfig } from "../../ml/train/config.ts";
import { ROLES, authorizationBlock } from "../../runtime/nats-roles.ts";
import { namespace } from "../../runtime/namespace.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { readClusterInfo } from "../../cli/cluster/cluster-file.ts";
import { pidAlive } from "../../cli/cluster/local-cluster.ts";
import { containersOf, find, podTemplate, readKustomization, renderKustomization, validateObject, type K8sObject } from "./k8s-render.ts";
import { unknownFieldProblems } from "./k8s-strict.ts";
import { credentialModeProblems, fileSource, referenceProblems, selectorProblems, selects } from "./k8s-facts.ts";

const root = path.resolve(import.meta.dirname, "../..");
const k8sDir = path.join(root, "deploy/k8s");
const guide = readFileSync(path.join(root, "docs/guide/kubernetes.md"), "utf8");
const tmp = mkdtempSync(path.join(os.tmpdir(), "troupe-k8s-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const render = () => renderKustomization(k8sDir);
const objects = render();
const container = (objects: K8sObject[], kind: string, name: string): IContainer => containersOf(find(objects, kind, name))[0];
const command = (c: IContainer) => [...(c.command ?? []), ...(c.args ?? [])];
const flag = (c: IContainer, name: string) => command(c)[command(c).indexOf(name) + 1];
const configMapData = (name: string) => find(objects, "ConfigMap", name).data as Record<string, string>;
const natsConf = configMapData("troupe-nats-config")["nats.conf"];

/** The Secrets the guide creates (`kubectl create secret generic NAME --from-file=SRC`), with their keys: a `creds/` folder's files are the roles. */
function guideSecrets(): Record<string, string[]> {
  const secrets: Record<string, string[]> = {};
  for (const m of guide.matchAll(/create secret generic (\S+) --from-file=(\S+)/g))
    secrets[m[1]] = m[2].endsWith("creds/") ? [...ROLES] : [path.basename(m[2])];
  return secrets;
}

describe("deploy/k8s against the Kubernetes schema", () => {
  it("renders the kustomization's resources, every object valid against its kind's schema", () => {
    expect(readKustomization(k8sDir).resources.every((f) => existsSync(path.join(k8sDir, f)))).toBe(true);
    for (const obj of objects) validateObject(obj);
    const kinds = objects.map((o) => `${o.kind} ${o.metadata.name}`);
    for (const k of [
      "StatefulSet troupe-nats",
      "Service troupe-nats",
      "StatefulSet troupe-agent",
      "Job troupe-train",
      "Deployment troupe-services",
    ])
      expect(kinds).toContain(k);
  });

  // one compiler run for both the manifests and a copy with typos (each run loads the kinds' types: seconds)
  it("has no field its kind does not have (kubectl's strict field validation), and finds a typo", { timeout: 120_000 }, () => {
    const typo = render();
    for (const o of typo) o.metadata.name += "-typo";
    const agent = container(typo, "StatefulSet", "troupe-agent-typo") as IContainer & { volumeMount?: unknown };
    agent.volumeMount = agent.volumeMounts;
    (find(typo, "Service", "troupe-nats-typo").spec as Record<string, unknown>).publishNotReady = true;
    const problems = unknownFieldProblems([...objects, ...typo]);
    expect(problems.filter((p) => !/^\S+ \S+-typo: /.test(p))).toEqual([]);
    expect(problems.join("\n")).toMatch(/StatefulSet troupe-agent-typo: .*'"volumeMount"' does not exist in type 'IContainer'/);
    expect(problems.join("\n")).toMatch(/Service troupe-nats-typo: .*'"publishNotReady"' does not exist in type 'IServiceSpec'/);
    expect(problems).toHaveLength(2);
  });

  it("rejects a broken copy, naming the object and the field", () => {
    const wrongType = render();
    (find(wrongType, "StatefulSet", "troupe-nats").spec as { replicas: unknown }).replicas = "3";
    expect(() => wrongType.forEach(validateObject)).toThrow(/StatefulSet troupe-nats: .*spec\/replicas must be integer/);
    const badPort = render();
    (container(badPort, "StatefulSet", "troupe-nats").ports![0] as { containerPort: unknown }).containerPort = "client";
    expect(() => badPort.forEach(validateObject)).toThrow(/containers\/0\/ports\/0\/containerPort must be integer/);
    const unknownKind = { apiVersion: "apps/v1", kind: "StatefullSet", metadata: { name: "x" } };
    expect(() => validateObject(unknownKind)).toThrow(/no schema for apps\/v1 StatefullSet/);
  });

  it("applies the kustomization's namespace and image overrides to every object", () => {
    const k = readKustomization(k8sDir);
    for (const o of objects)
      expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(o.kind === "Namespace" ? undefined : k.namespace);
    const images = new Set(objects.flatMap((o) => containersOf(o).map((c) => c.image)));
    expect([...images].sort()).toEqual(["nats:2.10-alpine", "registry.example.com/troupe:0.1.0"]);
    expect(find(objects, "Namespace", k.namespace!)).toBeDefined();
  });
});

describe("deploy/k8s: facts across objects", () => {
  it("Services select their workloads' pods, and every ConfigMap, Secret and claim named exists", () => {
    expect(selectorProblems(objects)).toEqual([]);
    expect(referenceProblems(objects, guideSecrets())).toEqual([]);
    expect(credentialModeProblems(objects)).toEqual([]);
    expect(Object.keys(guideSecrets()).sort()).toEqual(["troupe-creds", "troupe-nats-auth"]);
  });

  it("finds a Service that selects nothing, a missing ConfigMap, an undocumented Secret, group-readable credentials", () => {
    const broken = render();
    (find(broken, "Service", "troupe-nats").spec as IService["spec"])!.selector = { "app.kubernetes.io/name": "nats" };
    const agentPod = (find(broken, "StatefulSet", "troupe-agent").spec as { template: { spec: Record<string, unknown> } }).template.spec;
    const volumes = agentPod.volumes as {
      name: string;
      configMap?: { name: string };
      secret?: { secretName: string; defaultMode?: number };
    }[];
    volumes.find((v) => v.configMap)!.configMap!.name = "troupe-job-configs";
    volumes.find((v) => v.secret)!.secret!.secretName = "troupe-credentials";
    agentPod.securityContext = { fsGroup: 1000 };
    expect(selectorProblems(broken).join("\n")).toMatch(/Service troupe-nats: its selector .* matches no workload's pods/);
    expect(selectorProblems(broken).join("\n")).toMatch(/StatefulSet troupe-nats: Service troupe-nats does not select its pods/);
    const refs = referenceProblems(broken, guideSecrets()).join("\n");
    expect(refs).toMatch(/StatefulSet troupe-agent: volume job-config names ConfigMap troupe-job-configs, which does not exist/);
    expect(refs).toMatch(/names Secret troupe-credentials, which is not one of the documented Secrets/);
    expect(credentialModeProblems(broken).join("\n")).toMatch(/StatefulSet troupe-agent: fsGroup/);
  });

  it("NATS: 3 servers named by their pods, routes to each through the headless Service, JetStream on each claim", () => {
    const sts = find(objects, "StatefulSet", "troupe-nats");
    const spec = sts.spec as { replicas: number; serviceName: string; volumeClaimTemplates: { metadata: { name: string } }[] };
    const svc = find(objects, "Service", spec.serviceName).spec as NonNullable<IService["spec"]>;
    const routePort = svc.ports!.find((p) => p.name === "cluster")!.port;
    expect(spec.replicas).toBe(3);
    expect(svc.clusterIP).toBe("None");
    const routes = [...natsConf.matchAll(/"(nats:\/\/[^"]+:6222)"/g)].map((m) => m[1]);
    expect(routes).toEqual([0, 1, 2].map((i) => `nats://${sts.metadata.name}-${i}.${spec.serviceName}:${routePort}`));
    expect(natsConf).toMatch(/^server_name: \$POD_NAME$/m);
    const env = container(objects, "StatefulSet", "troupe-nats").env!.find((e) => e.name === "POD_NAME");
    expect(env?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    const storeDir = /store_dir: "([^"]+)"/.exec(natsConf)![1];
    const store = container(objects, "StatefulSet", "troupe-nats").volumeMounts!.find((m) => m.mountPath === storeDir);
    expect(store?.name).toBe(spec.volumeClaimTemplates[0].metadata.name);
  });

  it("nats-server accepts the rendered config with the authorization block the guide extracts from a troupe up cluster", async () => {
    const nats = container(objects, "StatefulSet", "troupe-nats");
    const confPath = command(nats)[command(nats).indexOf("--config") + 1];
    const include = /^include "([^"]+)"$/m.exec(natsConf)![1];
    const authPath = path.posix.resolve(path.posix.dirname(confPath), include);
    const authSource = fileSource(find(objects, "StatefulSet", "troupe-nats"), "nats", authPath);
    expect(authSource?.volume.secret?.secretName).toBe("troupe-nats-auth");
    expect(guideSecrets()["troupe-nats-auth"]).toContain(authSource?.relative);
    // the cluster file `troupe up` writes (its nats-server.conf comes from startNatsServer), then the guide's extraction
    const clusterId = flag(container(objects, "StatefulSet", "troupe-agent"), "--cluster-id");
    const passwords = { operator: "op-secret", controller: "ctl-secret", agent: "agent-secret", worker: "worker-secret" };
    const server = await startNatsServer({
      dir: path.join(tmp, "k8s-creds/nats"),
      authorization: authorizationBlock(namespace(clusterId), passwords),
    });
    await server.stop();
    const extract = /^(sed -n .*) > auth\.conf$/m.exec(guide)![1];
    const local = (p: string) => path.join(tmp, "root", p);
    mkdirSync(path.dirname(local(authPath)), { recursive: true });
    mkdirSync(path.dirname(local(confPath)), { recursive: true });
    const sed = spawnSync("bash", ["-c", `${extract} > ${local(authPath)}`], { cwd: tmp, encoding: "utf8" });
    expect(sed.status, sed.stderr).toBe(0);
    expect(readFileSync(local(authPath), "utf8")).toContain(`user: "worker", password: "worker-secret"`);
    writeFileSync(local(confPath), natsConf);
    const check = () =>
      spawnSync("nats-server", ["-c", local(confPath), "-t"], { env: { ...process.env, POD_NAME: "troupe-nats-0" }, encoding: "utf8" });
    const ok = check();
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    writeFileSync(local(authPath), readFileSync(local(authPath), "utf8").replace(/\n}\n$/, "\n"));
    const broken = check(); // a broken block fails the same check
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/auth\.conf/);
  });

  it("troupe's pods connect to the NATS Service as their role, with one cluster id", () => {
    // clients dial a Service that is not headless (it sends them to ready servers only) and selects the NATS pods
    const natsSvc = find(objects, "Service", "troupe-nats-client").spec as NonNullable<IService["spec"]>;
    expect(natsSvc.clusterIP).toBeUndefined();
    expect(selects(natsSvc.selector, podTemplate(find(objects, "StatefulSet", "troupe-nats"))?.metadata?.labels)).toBe(true);
    const url = `nats://troupe-nats-client:${natsSvc.ports!.find((p) => p.name === "client")!.port}`;
    const agents = find(objects, "StatefulSet", "troupe-agent");
    const agent = container(objects, "StatefulSet", "troupe-agent");
    const train = container(objects, "Job", "troupe-train");
    expect(command(agent).slice(0, 2)).toEqual(["troupe", "agent"]);
    expect(flag(agent, "--name")).toBe("$(POD_NAME)");
    expect(flag(agent, "--advertise")).toBe("$(POD_IP)");
    expect(agent.env!.find((e) => e.name === "POD_IP")?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP");
    expect(agent.env!.find((e) => e.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    for (const [w, c, role] of [
      [agents, agent, "agent"],
      [find(objects, "Job", "troupe-train"), train, "operator"],
    ] as const) {
      expect(flag(c, "--nats")).toBe(url);
      const tokenFile = flag(c, "--token-file");
      expect(path.posix.basename(tokenFile)).toBe(role);
      expect(fileSource(w, c.name, tokenFile)?.volume.secret?.secretName, `${c.name}'s ${tokenFile}`).toBe("troupe-creds");
    }
    // the agent hands its children the controller's and the worker's secrets, read beside its own
    const beside = (role: string) => fileSource(agents, "agent", path.posix.join(path.posix.dirname(flag(agent, "--token-file")), role));
    expect(beside("controller")?.volume.secret?.items?.map((i) => i.key)).toEqual(["agent", "controller", "worker"]);
    expect(beside("worker")?.relative).toBe("worker");
    // the job service's cluster file, read by troupe's own reader
    const dir = path.join(tmp, "cluster");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "cluster.json"), configMapData("troupe-cluster")["cluster.json"]);
    const info = readClusterInfo(dir);
    expect(info.url).toBe(url);
    expect(new Set([info.clusterId, flag(agent, "--cluster-id"), flag(train, "--cluster-id")])).toEqual(new Set(["k8s"]));
    expect(pidAlive(info.natsPid)).toBe(false);
    const services = find(objects, "Deployment", "troupe-services");
    const servicesCmd = command(container(objects, "Deployment", "troupe-services"));
    expect(
      fileSource(services, "services", path.join(servicesCmd[servicesCmd.indexOf("--cluster") + 1], "cluster.json"))?.volume.configMap
        ?.name,
    ).toBe("troupe-cluster");
    for (const role of ["controller", "operator"])
      expect(fileSource(services, "services", path.join(info.credsDir!, role))?.volume.secret?.secretName).toBe("troupe-creds");
    // the NetworkPolicy lets these pods reach the client port, and the servers each other's route port
    const rules = (find(objects, "NetworkPolicy", "troupe-nats").spec as NonNullable<INetworkPolicy["spec"]>).ingress!;
    const admitted = (w: K8sObject, port: number) =>
      rules.some(
        (r) =>
          r.ports?.some((p) => p.port === port) &&
          r.from?.some((f) => selects(f.podSelector?.matchLabels, podTemplate(w)?.metadata?.labels)),
      );
    for (const w of [agents, services, find(objects, "Job", "troupe-train")])
      expect(admitted(w, 4222), `${w.kind} ${w.metadata.name}`).toBe(true);
    expect(admitted(find(objects, "StatefulSet", "troupe-nats"), 6222)).toBe(true);
    expect(admitted(agents, 6222)).toBe(false);
  });

  it("the Job's config is a valid troupe config, read at the same path on the agents, and fits their slots", () => {
    const agents = find(objects, "StatefulSet", "troupe-agent");
    const train = container(objects, "Job", "troupe-train");
    const configPath = command(train)[2];
    const inJob = fileSource(find(objects, "Job", "troupe-train"), "train", configPath);
    const onAgent = fileSource(agents, "agent", configPath);
    expect(inJob?.volume.configMap?.name).toBe("troupe-job-config");
    expect(onAgent?.volume.configMap?.name).toBe("troupe-job-config");
    expect(onAgent?.relative).toBe(inJob?.relative);
    const config = parseTrainConfig(parse(configMapData("troupe-job-config")[inJob!.relative]), "troupe-job-config");
    const { dp, pp, tp } = config.parallel;
    const slots = Number(container(objects, "StatefulSet", "troupe-agent").env!.find((e) => e.name === "TROUPE_SLOTS")!.value);
    expect(dp * pp * tp).toBeLessThanOrEqual((agents.spec as { replicas: number }).replicas * slots);
    // run directories, job files and the data cache are relative to the working directory: one shared volume
    for (const [kind, name] of [
      ["StatefulSet", "troupe-agent"],
      ["Job", "troupe-train"],
      ["Deployment", "troupe-services"],
    ]) {
      const c = container(objects, kind, name);
      expect(c.workingDir).toBe("/shared");
      expect(fileSource(find(objects, kind, name), c.name, "/shared/runs")?.volume.persistentVolumeClaim?.claimName).toBe("troupe-shared");
    }
    const shared = find(objects, "PersistentVolumeClaim", "troupe-shared").spec as { accessModes: string[] };
    expect(shared.accessModes).toEqual(["ReadWriteMany"]);
  });

  it("the image's Dockerfile copies files that exist and installs what the addon and agents need", () => {
    const dockerfile = readFileSync(path.join(root, "deploy/Dockerfile"), "utf8");
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(sources).toContain("package-lock.json");
    for (const s of sources) expect(existsSync(path.join(root, s)), `COPY ${s}`).toBe(true);
    expect(dockerfile).toMatch(/^RUN npm ci /m);
    expect(dockerfile).toMatch(/install -y --no-install-recommends libopenblas0 nats-server/);
    expect(dockerfile).toMatch(/^RUN ln -s \/app\/bin\/troupe\.js \/usr\/local\/bin\/troupe$/m);
  });
});
