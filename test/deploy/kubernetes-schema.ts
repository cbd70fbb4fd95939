/**
 * Kubernetes manifests checked against the official API schemas, as the
 * kubernetes-models package compiles them from Kubernetes' OpenAPI document
 * (one ajv validator per kind: types, enums, required fields, formats such as
 * quantities).
 *
 * Those schemas allow unknown fields, but the API server refuses them
 * (`kubectl apply` validates strictly), and a misspelled field is the likeliest
 * mistake. So validation also runs over a proxy of the manifest that records
 * which fields the validator reads: a field of an object it never reads (and
 * whose keys it does not enumerate, as it does for maps like labels) is one
 * the schema does not know.
 */
import type { Model } from "@kubernetes-models/base";

export interface ManifestError {
  /** "/spec/template/spec/containers/0/imagePullPolicyy" */
  path: string;
  message: string;
}

type ModelClass = (new (data?: object) => Model<unknown>) & { apiVersion: string; kind: string };

/** kubernetes-models' module of `apiVersion`: "v1" is core, "apps/v1" a group. */
async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  let module: Record<string, unknown>;
  try {
    module = await import(`kubernetes-models/${apiVersion}`);
  } catch {
    return undefined;
  }
  const model = module[kind] as ModelClass | undefined;
  return typeof model === "function" ? model : undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** What a validator did with each object of the manifest. */
interface Reads {
  read: Map<object, Set<PropertyKey>>;
  enumerated: Set<object>;
}

/** `value` behind proxies (every nested object and array too) that record into `reads`. */
function recording(value: unknown, reads: Reads): unknown {
  if (typeof value !== "object" || value === null) return value;
  const target = value as object;
  return new Proxy(target, {
    get(t, key, receiver) {
      if (!reads.read.has(t)) reads.read.set(t, new Set());
      reads.read.get(t)!.add(key);
      return recording(Reflect.get(t, key, receiver), reads);
    },
    has(t, key) {
      if (!reads.read.has(t)) reads.read.set(t, new Set());
      reads.read.get(t)!.add(key);
      return Reflect.has(t, key);
    },
    ownKeys(t) {
      reads.enumerated.add(t);
      return Reflect.ownKeys(t);
    },
  });
}

/** Fields of `value` (at `path`) that the validator neither read nor enumerated. */
function unreadFields(value: unknown, reads: Reads, path: string, out: ManifestError[]) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => unreadFields(item, reads, `${path}/${i}`, out));
    return;
  }
  if (!isObject(value)) return;
  const read = reads.read.get(value) ?? new Set();
  for (const [key, child] of Object.entries(value)) {
    if (!reads.enumerated.has(value) && !read.has(key)) out.push({ path: `${path}/${key}`, message: "is not a field of this object in the Kubernetes schema" });
    else unreadFields(child, reads, `${path}/${key}`, out);
  }
}

/** The errors of one manifest document; none when it is valid. */
export async function validateManifest(doc: unknown): Promise<ManifestError[]> {
  if (!isObject(doc) || typeof doc.apiVersion !== "string" || typeof doc.kind !== "string")
    return [{ path: "", message: "a manifest needs apiVersion and kind" }];
  const model = await modelClass(doc.apiVersion, doc.kind);
  if (!model) return [{ path: "", message: `no Kubernetes schema for ${doc.apiVersion} ${doc.kind}` }];
  const reads: Reads = { read: new Map(), enumerated: new Set() };
  try {
    // The model's validate() runs the kind's compiled validator on `this`.
    model.prototype.validate.call(recording(doc, reads) as Model<unknown>);
  } catch (error) {
    const errors = (error as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errors) throw error;
    return errors.map((e) => ({ path: e.instancePath, message: e.message ?? "invalid" }));
  }
  const unknown: ManifestError[] = [];
  unreadFields(doc, reads, "", unknown);
  return unknown;
}

/** The documents of a YAML file ("---" separated), empty ones left out. */
export function yamlDocuments(text: string): unknown[] {
  return text
    .split(/^---\s*$/m)
    .filter((chunk) => chunk.replace(/^\s*#.*$/gm, "").trim() !== "")
    .map((chunk) => Bun.YAML.parse(chunk));
}

/** RFC 6902 add/replace/remove on a copy of `doc`: what kustomize does with a JSON6902 patch. */
export function applyJsonPatch(doc: unknown, ops: { op: string; path: string; value?: unknown }[]): unknown {
  const result = structuredClone(doc);
  for (const { op, path, value } of ops) {
    const keys = path
      .split("/")
      .slice(1)
      .map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop()!;
    let parent: any = result;
    for (const key of keys) {
      parent = parent?.[key];
      if (parent === undefined) throw new Error(`patch ${op} ${path}: ${key} does not exist`);
    }
    if (op === "replace" && !(last in parent)) throw new Error(`patch replace ${path}: nothing to replace`);
    if (op === "add" || op === "replace") {
      if (Array.isArray(parent) && op === "add") parent.splice(last === "-" ? parent.length : Number(last), 0, value);
      else parent[last] = value;
    } else if (op === "remove") {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else throw new Error(`patch op ${op} is not supported here`);
  }
  return result;
}
