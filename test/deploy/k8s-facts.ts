// Facts across the objects of deploy/k8s that no single object's schema can check, each as a list of problems
// (empty when it holds): Services select the pods they serve, everything referenced exists, credentials are
// mounted as troupe reads them (readToken refuses a file that others may read).
import path from "node:path";
import type { IPodSpec, IVolume } from "kubernetes-models/v1";
import { containersOf, podTemplate, type K8sObject } from "./k8s-render.ts";

type Labels = Record<string, string>;

/** Whether a label selector (matchLabels) selects a pod with `labels`; an empty selector selects nothing here. */
export function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

const workloads = (objects: K8sObject[]) => objects.filter((o) => podTemplate(o) !== undefined);
const byName = (objects: K8sObject[], kind: string) => new Map(objects.filter((o) => o.kind === kind).map((o) => [o.metadata.name, o]));

/** Every Service selects some workload's pods; every workload's selector matches its own pods; a StatefulSet's serviceName is a headless Service selecting it. */
export function selectorProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const services = byName(objects, "Service");
  for (const svc of services.values()) {
    const selector = (svc.spec as { selector?: Labels }).selector;
    if (!workloads(objects).some((w) => selects(selector, podTemplate(w)?.metadata?.labels)))
      problems.push(`Service ${svc.metadata.name}: its selector ${JSON.stringify(selector)} matches no workload's pods`);
  }
  for (const w of workloads(objects)) {
    const { selector, serviceName } = w.spec as { selector?: { matchLabels?: Labels }; serviceName?: string };
    const labels = podTemplate(w)?.metadata?.labels;
    if (w.kind !== "Job" && !selects(selector?.matchLabels, labels))
      problems.push(`${w.kind} ${w.metadata.name}: selector ${JSON.stringify(selector?.matchLabels)} does not match its pod labels`);
    if (w.kind !== "StatefulSet") continue;
    const svc = serviceName === undefined ? undefined : services.get(serviceName);
    const spec = svc?.spec as { clusterIP?: string; selector?: Labels } | undefined;
    if (!svc || spec?.clusterIP !== "None")
      problems.push(`StatefulSet ${w.metadata.name}: serviceName ${serviceName} is no headless Service`);
    else if (!selects(spec.selector, labels))
      problems.push(`StatefulSet ${w.metadata.name}: Service ${serviceName} does not select its pods`);
  }
  return problems;
}

function volumeProblems(owner: string, v: IVolume, objects: K8sObject[], secrets: Record<string, string[]>): string[] {
  const problems: string[] = [];
  const keysOk = (keys: string[], items: { key: string }[] | undefined, what: string) => {
    for (const item of items ?? [])
      if (!keys.includes(item.key)) problems.push(`${owner}: volume ${v.name} takes key ${item.key}, not in ${what}`);
  };
  if (v.configMap) {
    const cm = byName(objects, "ConfigMap").get(v.configMap.name ?? "");
    if (!cm) problems.push(`${owner}: volume ${v.name} names ConfigMap ${v.configMap.name}, which does not exist`);
    else keysOk(Object.keys((cm.data as Labels | undefined) ?? {}), v.configMap.items, `ConfigMap ${v.configMap.name}`);
  }
  if (v.secret) {
    const keys = secrets[v.secret.secretName ?? ""];
    if (!keys) problems.push(`${owner}: volume ${v.name} names Secret ${v.secret.secretName}, which is not one of the documented Secrets`);
    else keysOk(keys, v.secret.items, `Secret ${v.secret.secretName}`);
  }
  const claim = v.persistentVolumeClaim?.claimName;
  if (claim !== undefined && !byName(objects, "PersistentVolumeClaim").has(claim))
    problems.push(`${owner}: volume ${v.name} names PersistentVolumeClaim ${claim}, which does not exist`);
  return problems;
}

/** Every ConfigMap, PersistentVolumeClaim and volume a pod names exists; every Secret is one of `secrets` (name → keys), which kubectl creates. */
export function referenceProblems(objects: K8sObject[], secrets: Record<string, string[]>): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const owner = `${w.kind} ${w.metadata.name}`;
    const spec = podTemplate(w)!.spec as IPodSpec;
    const claims = ((w.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []).map(
      (c) => c.metadata.name,
    );
    const volumes = new Set([...(spec.volumes ?? []).map((v) => v.name), ...claims]);
    for (const v of spec.volumes ?? []) problems.push(...volumeProblems(owner, v, objects, secrets));
    for (const c of containersOf(w)) {
      for (const m of c.volumeMounts ?? [])
        if (!volumes.has(m.name)) problems.push(`${owner}: container ${c.name} mounts ${m.name}, no volume of its pod`);
      for (const e of c.env ?? []) {
        const cm = e.valueFrom?.configMapKeyRef;
        if (cm && !byName(objects, "ConfigMap").has(cm.name ?? ""))
          problems.push(`${owner}: env ${e.name} names ConfigMap ${cm.name}, which does not exist`);
        const s = e.valueFrom?.secretKeyRef;
        if (s && !secrets[s.name ?? ""]?.includes(s.key))
          problems.push(`${owner}: env ${e.name} names key ${s.key} of Secret ${s.name}, not documented`);
      }
    }
  }
  return problems;
}

/** Where a file lies in a container: the volume mounted above it and the file's path in that volume. */
export function fileSource(w: K8sObject, containerName: string, file: string): { volume: IVolume; relative: string } | undefined {
  const c = containersOf(w).find((x) => x.name === containerName);
  const spec = podTemplate(w)!.spec as IPodSpec;
  for (const m of c?.volumeMounts ?? []) {
    const relative = path.posix.relative(m.mountPath, file);
    if (relative.startsWith("..") || path.posix.isAbsolute(relative)) continue;
    const volume = spec.volumes?.find((v) => v.name === m.name);
    if (volume) return { volume, relative };
  }
  return undefined;
}

/** Secret volumes are mode 0400 and owned by root (no fsGroup, which would make them group-readable): troupe refuses credentials others may read. */
export function credentialModeProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const spec = podTemplate(w)!.spec as IPodSpec;
    const owner = `${w.kind} ${w.metadata.name}`;
    if (spec.securityContext?.fsGroup !== undefined) problems.push(`${owner}: fsGroup makes its Secret files group-readable`);
    for (const v of spec.volumes ?? []) {
      if (!v.secret) continue;
      if (v.secret.defaultMode !== 0o400)
        problems.push(`${owner}: Secret volume ${v.name} has mode ${v.secret.defaultMode?.toString(8)}, not 400`);
      for (const item of v.secret.items ?? [])
        if (item.mode !== undefined) problems.push(`${owner}: Secret volume ${v.name} sets mode on ${item.key}`);
    }
  }
  return problems;
}
