// Renders deploy/k8s as `kubectl apply -k` would for this kustomization (its resources, its namespace, its image
// overrides: the only kustomize features it uses) and validates each object against its kind's schema, the
// Kubernetes OpenAPI schema compiled into the kubernetes-models package.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments, parse } from "yaml";
import { ConfigMap, Namespace, PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import type { IContainer, IPodTemplateSpec } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";

/** An object of the manifests, as parsed; its kind's schema says the rest. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
}

interface Kustomization {
  namespace?: string;
  resources: string[];
  images?: ImageOverride[];
}

/** The kinds the manifests use, each with its model class, whose validate() checks the kind's schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "apps/v1/StatefulSet": StatefulSet,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};

const CLUSTER_SCOPED = new Set(["Namespace"]);

export function readKustomization(dir: string): Kustomization {
  return parse(readFileSync(path.join(dir, "kustomization.yaml"), "utf8")) as Kustomization;
}

/** The YAML documents of one file, read as kubectl reads them (YAML 1.1: `0400` is octal, `yes` is true). */
function parseManifests(text: string, source: string): K8sObject[] {
  return parseAllDocuments(text, { version: "1.1" }).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0].message}`);
    const obj = doc.toJS() as K8sObject | null;
    return obj === null ? [] : [obj];
  });
}

/** The pod template of a workload (StatefulSet, Deployment, Job), or undefined for other kinds. */
export function podTemplate(obj: K8sObject): IPodTemplateSpec | undefined {
  return ["StatefulSet", "Deployment", "Job"].includes(obj.kind) ? (obj.spec as { template: IPodTemplateSpec }).template : undefined;
}

export function containersOf(obj: K8sObject): IContainer[] {
  const spec = podTemplate(obj)?.spec;
  return spec ? [...(spec.initContainers ?? []), ...spec.containers] : [];
}

/** kustomize's `images:` rule: an image whose name (before the tag or digest) matches gets the new name and tag. */
function overrideImage(image: string, overrides: ImageOverride[]): string {
  const at = image.indexOf("@");
  const colon = image.lastIndexOf(":");
  const end = at >= 0 ? at : colon > image.lastIndexOf("/") ? colon : image.length;
  const name = image.slice(0, end);
  const o = overrides.find((x) => x.name === name);
  if (!o) return image;
  const tag = o.newTag ?? (end < image.length ? image.slice(end + 1) : undefined);
  return `${o.newName ?? name}${tag === undefined ? "" : `:${tag}`}`;
}

/** Every object of the kustomization in `dir`, with its namespace and image overrides applied. */
export function renderKustomization(dir: string): K8sObject[] {
  const k = readKustomization(dir);
  const objects = k.resources.flatMap((file) => parseManifests(readFileSync(path.join(dir, file), "utf8"), file));
  for (const obj of objects) {
    if (k.namespace && !CLUSTER_SCOPED.has(obj.kind)) obj.metadata.namespace = k.namespace;
    for (const c of containersOf(obj)) if (c.image) c.image = overrideImage(c.image, k.images ?? []);
  }
  return objects;
}

/** Validates `obj` against its kind's schema; throws naming the object and the offending field. */
export function validateObject(obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  const what = `${obj.kind} ${obj.metadata?.name ?? "(no name)"}`;
  if (!Model) throw new Error(`${what}: no schema for ${obj.apiVersion} ${obj.kind} (add its model to MODELS)`);
  try {
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** The object of `kind` named `name`; throws when there is none. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`no ${kind} ${name} in the manifests`);
  return obj;
}
