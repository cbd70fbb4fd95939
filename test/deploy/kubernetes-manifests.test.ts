/**
 * deploy/kubernetes/: every manifest is valid against the official schema of
 * its kind, unknown fields included (kubernetes-schema.ts); the privileged
 * overlay's patch applies and gives a valid DaemonSet; the pieces agree with
 * each other, with `run --help`, with the systemd unit's capabilities and with
 * the package version. Invalid manifests are rejected (the validator is sharp).
 * Where kubectl is installed, its kustomize renders both variants to the same
 * objects.
 */
import { $ } from "bun";
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cliPath, repoRoot } from "../helpers/agent-process.ts";
import { applyJsonPatch, validateManifest, yamlDocuments } from "./kubernetes-schema.ts";
import { capabilityList, helpSettings, readUnit } from "./unit-file.ts";

const kubernetesDir = join(repoRoot, "deploy", "kubernetes");
const baseDir = join(kubernetesDir, "base");
const privilegedDir = join(kubernetesDir, "privileged");

type Doc = Record<string, any>;

const manifestFiles = readdirSync(baseDir)
  .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
  .sort();
const readYaml = (path: string) => yamlDocuments(readFileSync(path, "utf8")) as Doc[];
const manifests = manifestFiles.flatMap((file) => readYaml(join(baseDir, file)).map((doc) => ({ file, doc })));
const ofKind = (kind: string) => manifests.find((m) => m.doc.kind === kind)!.doc;

const baseKustomization = readYaml(join(baseDir, "kustomization.yaml"))[0]!;
const privilegedKustomization = readYaml(join(privilegedDir, "kustomization.yaml"))[0]!;

/** The base objects with the privileged overlay's JSON6902 patch applied to its target. */
function privilegedObjects(): Doc[] {
  const [patch] = privilegedKustomization.patches as { target: Doc; patch: string }[];
  return manifests.map(({ doc }) =>
    doc.kind === patch!.target.kind && doc.metadata.name === patch!.target.name ? (applyJsonPatch(doc, Bun.YAML.parse(patch!.patch) as any) as Doc) : doc,
  );
}

describe("against the Kubernetes schemas", () => {
  test("the base holds a Namespace, a ServiceAccount, a DaemonSet and a Service", () => {
    expect(manifests.map((m) => `${m.file}: ${m.doc.apiVersion} ${m.doc.kind}`)).toEqual([
      "daemonset.yaml: apps/v1 DaemonSet",
      "namespace.yaml: v1 Namespace",
      "service.yaml: v1 Service",
      "serviceaccount.yaml: v1 ServiceAccount",
    ]);
  });

  for (const { file, doc } of manifests)
    test(`${file}: ${doc.kind} ${doc.metadata?.name} is valid`, async () => {
      expect(await validateManifest(doc)).toEqual([]);
    });

  test("the privileged overlay's patch applies to the DaemonSet and leaves it valid and privileged", async () => {
    expect(privilegedKustomization.resources).toEqual(["../base"]);
    const daemonSet = privilegedObjects().find((d) => d.kind === "DaemonSet")!;
    expect(await validateManifest(daemonSet)).toEqual([]);
    const container = daemonSet.spec.template.spec.containers[0];
    expect(container.securityContext.privileged).toBe(true);
    expect(container.securityContext.capabilities).toBeUndefined();
    // Only the security context differs from the base.
    const base = structuredClone(ofKind("DaemonSet"));
    base.spec.template.spec.containers[0].securityContext = container.securityContext;
    expect(daemonSet).toEqual(base);
  });

  test("the base kustomization lists exactly the manifests", () => {
    expect([...baseKustomization.resources].sort()).toEqual(manifestFiles);
  });
});

describe("invalid manifests are rejected", () => {
  const daemonSet = () => structuredClone(ofKind("DaemonSet"));
  const container = (d: Doc) => d.spec.template.spec.containers[0];

  test("a misspelled field", async () => {
    const d = daemonSet();
    container(d).imagePullPolicyy = container(d).imagePullPolicy;
    d.spec.template.spec.hostNetwrok = true;
    expect(await validateManifest(d)).toEqual([
      { path: "/spec/template/spec/containers/0/imagePullPolicyy", message: "is not a field of this object in the Kubernetes schema" },
      { path: "/spec/template/spec/hostNetwrok", message: "is not a field of this object in the Kubernetes schema" },
    ]);
  });

  test("a wrong type, a bad quantity, a missing required field", async () => {
    const d = daemonSet();
    container(d).ports[0].containerPort = "9990";
    container(d).resources.limits.memory = "1 GB";
    delete d.spec.selector;
    const errors = await validateManifest(d);
    expect(errors).toContainEqual({ path: "/spec", message: "must have required property selector" });
    expect(errors).toContainEqual({ path: "/spec/template/spec/containers/0/ports/0/containerPort", message: "must be integer" });
    expect(errors).toContainEqual({ path: "/spec/template/spec/containers/0/resources/limits/memory", message: 'must match format "quantity"' });
  });

  test("a kind with no schema", async () => {
    expect(await validateManifest({ apiVersion: "apps/v1", kind: "DaemonSett", metadata: { name: "x" } })).toEqual([
      { path: "", message: "no Kubernetes schema for apps/v1 DaemonSett" },
    ]);
  });
});

describe("the pieces agree", () => {
  const daemonSet = ofKind("DaemonSet");
  const pod = daemonSet.spec.template.spec;
  const container = pod.containers[0];
  const env: Doc[] = container.env;

  test("one namespace, one service account, one set of labels", () => {
    const namespace = ofKind("Namespace").metadata.name;
    for (const { doc } of manifests.filter((m) => m.doc.kind !== "Namespace")) expect(`${doc.kind} in ${doc.metadata.namespace}`).toBe(`${doc.kind} in ${namespace}`);
    expect(pod.serviceAccountName).toBe(ofKind("ServiceAccount").metadata.name);
    const labels = daemonSet.spec.template.metadata.labels;
    expect(labels).toMatchObject(daemonSet.spec.selector.matchLabels);
    expect(labels).toMatchObject(ofKind("Service").spec.selector);
  });

  test("a node's agent: host network, every node, no host PID namespace, no host path", () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.hostPID).toBe(false);
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect((pod.volumes as Doc[]).filter((v) => v.hostPath)).toEqual([]);
  });

  test("the capabilities are the systemd unit's, everything else dropped", () => {
    const unitCaps = capabilityList(readUnit(), "AmbientCapabilities").map((c) => c.toUpperCase());
    expect(container.securityContext.capabilities).toEqual({ drop: ["ALL"], add: unitCaps });
    expect(container.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
  });

  test("the API listens on the pod (node) IP, at the port the probes and the Service use", () => {
    const names = env.map((e) => e.name);
    const api = env.find((e) => e.name === "NETFLOW_API")!;
    // $(POD_IP) expands only if POD_IP is defined earlier in the list.
    expect(api.value).toBe("$(POD_IP):9990");
    expect(names.indexOf("POD_IP")).toBeLessThan(names.indexOf("NETFLOW_API"));
    expect(env.find((e) => e.name === "POD_IP")!.valueFrom).toEqual({ fieldRef: { fieldPath: "status.podIP" } });
    expect(container.ports).toEqual([{ name: "api", containerPort: 9990, protocol: "TCP" }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "api" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "api" });
    const service = ofKind("Service");
    expect(service.spec.clusterIP).toBe("None");
    expect(service.spec.ports).toEqual([{ name: "api", port: 9990, targetPort: "api", protocol: "TCP", appProtocol: "http" }]);
  });

  test("every NETFLOW_* variable is a setting of `run --help`", async () => {
    const settings = helpSettings(await $`${process.execPath} ${cliPath} run --help`.text());
    const used = env.map((e) => e.name as string).filter((name) => name.startsWith("NETFLOW_"));
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((name) => !settings.has(name))).toEqual([]);
  });

  test("the image is this version, run with `run`, as the Containerfile's default command", () => {
    const version = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version;
    expect(container.image).toBe(`netflow-agent:${version}`);
    expect(container.args).toEqual(["run"]);
    expect(readFileSync(join(repoRoot, "deploy", "Containerfile"), "utf8")).toContain('\nCMD ["run"]\n');
  });
});

const kubectl = Bun.which("kubectl");

/** kubectl's kustomize output, or why it failed. */
async function kustomize(dir: string): Promise<Doc[]> {
  const result = await $`${kubectl!} kustomize ${dir}`.nothrow().quiet();
  if (result.exitCode !== 0) throw new Error(`kubectl kustomize ${dir}: ${result.stderr}`);
  return yamlDocuments(result.stdout.toString()) as Doc[];
}

const byKind = (docs: Doc[]) => [...docs].sort((x, y) => `${x.kind}/${x.metadata.name}`.localeCompare(`${y.kind}/${y.metadata.name}`));

// Not a setup dependency (Debian 12's kubectl, 1.20, predates kustomize's `patches:`),
// so registered only where a kubectl is installed, rather than skipped (a skip fails CI).
if (kubectl !== null)
  test("kubectl kustomize renders base and privileged to the objects validated here", async () => {
    expect(byKind(await kustomize(baseDir))).toEqual(byKind(manifests.map((m) => m.doc)));
    expect(byKind(await kustomize(privilegedDir))).toEqual(byKind(privilegedObjects()));
  });
