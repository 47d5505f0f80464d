/*
 * The Helm chart, rendered by test/helm/render.go (Go's text/template + sprig
 * from Debian's golang packages; no helm binary can be installed here) with
 * the default values and every ci/*-values.yaml: values valid against
 * values.schema.json, every value documented, and the manifests' structure
 * (kinds, required fields, securityContext, mounts). With helm on PATH, also
 * `helm lint` and `helm template`.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './helpers/live.js';

const CHART = `${ROOT}deploy/helm/faultline`;
const RENDER = `${ROOT}build/test/helm-render`;

/** A rendered manifest as YAML parsed it: what it holds is what the tests check. */
interface Doc {
  apiVersion?: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Rendered {
  values: Record<string, unknown>;
  manifests: { source: string; documents: Doc[] }[];
  notes: string;
}

function buildRenderer(): void {
  mkdirSync(`${ROOT}build/test`, { recursive: true });
  const r = spawnSync('go', ['build', '-o', RENDER, `${ROOT}test/helm/render.go`], {
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: `${ROOT}build/test/gocache` },
  });
  if (r.error || r.status !== 0) {
    throw new Error(
      `cannot build the chart renderer: ${r.error?.message ?? r.stderr}; install Debian's golang-go, ` +
        'golang-github-masterminds-sprig-dev and golang-gopkg-yaml.v3-dev (scripts/setup.sh does)',
    );
  }
}

function render(valuesFile?: string): Rendered {
  const args = [CHART, 'faultline', 'monitoring', ...(valuesFile ? [valuesFile] : [])];
  return JSON.parse(execFileSync(RENDER, args, { encoding: 'utf8' })) as Rendered;
}

const valueSets = ['', ...readdirSync(`${CHART}/ci`).filter((f) => f.endsWith('-values.yaml')).map((f) => `${CHART}/ci/${f}`)];
const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding']);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

buildRenderer();
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as object);

for (const valuesFile of valueSets) {
  const label = valuesFile ? valuesFile.slice(CHART.length + 1) : 'default values';
  t.test(`chart renders with ${label}`, async (t) => {
    const out = render(valuesFile || undefined);
    const v = out.values as Any;
    t.ok(validate(out.values), `values match values.schema.json: ${ajv.errorsText(validate.errors)}`);
    const docs = out.manifests.flatMap((m) => m.documents);
    for (const d of docs) {
      t.ok(d.apiVersion && d.kind && d.metadata?.name, `${d.kind} ${d.metadata?.name ?? '(no name)'}: apiVersion, kind, metadata.name`);
      if (!CLUSTER_SCOPED.has(d.kind)) t.equal(d.metadata?.namespace, 'monitoring', `${d.kind} is in the release namespace`);
      t.equal(d.metadata?.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${d.kind} has the chart's labels`);
    }
    const of = (kind: string): Any[] => docs.filter((d) => d.kind === kind);

    const [ds] = of('DaemonSet');
    t.ok(ds, 'a DaemonSet');
    const pod = ds.spec.template.spec;
    t.strictSame(ds.spec.selector.matchLabels, Object.fromEntries(Object.entries(ds.spec.template.metadata.labels).filter(([k]) => k in ds.spec.selector.matchLabels)), 'the selector matches the pod labels');
    t.equal(pod.hostPID, true, 'hostPID');
    t.ok(pod.tolerations.some((x: Any) => x.operator === 'Exists' && !x.key), 'tolerates every taint');
    t.ok(['RollingUpdate', 'OnDelete'].includes(ds.spec.updateStrategy.type), 'updateStrategy');
    t.equal(pod.containers.length, 1);
    const c = pod.containers[0];
    t.equal(c.args[0], 'serve');
    t.ok(c.args.includes(`--web.listen-address=:${v.port}`), 'listens on the port value');
    t.equal(c.ports[0].containerPort, v.port);
    if (v.webConfig.secretName) {
      t.ok(c.args.includes(`--web.config.file=/etc/faultline/web/${v.webConfig.key}`), '--web.config.file from the Secret');
      t.ok(c.volumeMounts.some((m: Any) => m.name === 'web-config' && m.mountPath === '/etc/faultline/web' && m.readOnly), 'the Secret mounted read-only');
      t.ok(pod.volumes.some((x: Any) => x.name === 'web-config' && x.secret?.secretName === v.webConfig.secretName), 'the Secret as a volume');
      t.equal(c.livenessProbe.tcpSocket.port, 'metrics', 'TLS or auth on every path: the probes check the port');
      t.equal(c.readinessProbe.tcpSocket.port, 'metrics');
    } else {
      t.notOk(c.args.some((a: string) => a.startsWith('--web.config.file')), 'no web config unless a Secret is named');
      t.equal(c.livenessProbe.httpGet.path, '/healthz');
      t.equal(c.readinessProbe.httpGet.path, '/healthz');
    }
    t.ok(c.resources.requests && c.resources.limits, 'resources');
    t.equal(c.args.includes('--kubernetes.enabled'), v.kubernetes.enabled, '--kubernetes.enabled follows the value');
    for (const arg of v.extraArgs) t.ok(c.args.includes(arg), `extra arg ${arg}`);
    if (v.otlp.endpoint) {
      for (const arg of [`--otlp.endpoint=${v.otlp.endpoint}`, `--otlp.protocol=${v.otlp.protocol}`, `--otlp.interval=${v.otlp.interval}`]) t.ok(c.args.includes(arg), arg);
    } else {
      t.notOk(c.args.some((a: string) => a.startsWith('--otlp.')), 'no OTLP unless an endpoint is set');
    }
    for (const name of ['POD_NAME', 'POD_NAMESPACE', 'POD_UID']) t.ok(c.env.some((e: Any) => e.name === name && e.valueFrom.fieldRef), `${name} from the downward API`);
    t.ok(c.env.some((e: Any) => e.name === 'NODE_NAME' && e.valueFrom.fieldRef.fieldPath === 'spec.nodeName'), 'NODE_NAME from the downward API');

    const sc = c.securityContext;
    t.equal(sc.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
    if (v.privileged) {
      t.equal(sc.privileged, true, 'privileged only when asked for');
    } else {
      t.equal(sc.privileged, false, 'not privileged');
      t.equal(sc.allowPrivilegeEscalation, false);
      t.strictSame(sc.capabilities.drop, ['ALL'], 'drops every capability');
      const added = [...sc.capabilities.add].sort();
      const expected = [...v.capabilities, ...(v.oomKernelLog.enabled ? ['SYSLOG'] : [])].sort();
      t.strictSame(added, expected, `adds ${expected.join(', ')} and nothing else`);
      t.ok(added.includes('BPF') && added.includes('PERFMON'), 'CAP_BPF and CAP_PERFMON');
    }

    const volumes = new Map<string, Any>(pod.volumes.map((x: Any) => [x.name, x]));
    const mounts = new Map<string, Any>(c.volumeMounts.map((m: Any) => [m.mountPath, m]));
    const hostMounts: [string, string][] = [
      ['/sys/kernel/btf', 'Directory'],
      ['/sys/kernel/tracing', 'Directory'],
      ['/sys/fs/cgroup', 'Directory'],
      ...(v.debugfs.enabled ? ([['/sys/kernel/debug', 'Directory']] as [string, string][]) : []),
      ...(v.oomKernelLog.enabled ? ([['/dev/kmsg', 'CharDevice']] as [string, string][]) : []),
    ];
    for (const [path, type] of hostMounts) {
      const m = mounts.get(path);
      t.ok(m?.readOnly, `${path} mounted read-only`);
      t.strictSame(volumes.get(m?.name)?.hostPath, { path, type }, `${path} from the host`);
    }
    t.equal(mounts.size, hostMounts.length + (v.webConfig.secretName ? 1 : 0), 'no other mounts (the web config Secret aside)');

    const [svc] = of('Service');
    if (v.service.enabled) {
      t.strictSame(svc.spec.selector, ds.spec.selector.matchLabels, 'the Service selects the pods');
      t.equal(svc.spec.ports[0].targetPort, 'metrics');
    } else {
      t.notOk(svc, 'no Service');
    }
    const sa = of('ServiceAccount');
    t.equal(sa.length, v.serviceAccount.create ? 1 : 0);
    if (v.serviceAccount.create) t.equal(pod.serviceAccountName, sa[0].metadata.name, 'the pods use the service account');
    else t.equal(pod.serviceAccountName, v.serviceAccount.name);
    const [role] = of('ClusterRole');
    if (v.rbac.create && v.kubernetes.enabled) {
      t.strictSame(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }], 'RBAC: list and watch pods, nothing more');
      t.equal(of('ClusterRoleBinding')[0].subjects[0].name, pod.serviceAccountName);
    } else {
      t.notOk(role, 'no RBAC');
    }

    for (const [kind, key] of [['ServiceMonitor', 'serviceMonitor'], ['PodMonitor', 'podMonitor'], ['PrometheusRule', 'prometheusRule']] as const) {
      t.equal(of(kind).length, v[key].enabled ? 1 : 0, `${kind} only when ${key}.enabled`);
      if (v[key].enabled) t.match(of(kind)[0].metadata.labels, v[key].labels, `${kind} carries ${key}.labels`);
    }
    const [sm] = of('ServiceMonitor');
    if (sm) t.strictSame(sm.spec.endpoints[0].relabelings, [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }], 'the node label');
    const [rule] = of('PrometheusRule');
    if (rule) {
      const shipped = parseYaml(readFileSync(`${ROOT}deploy/prometheus/faultline-rules.yml`, 'utf8'));
      const names = (g: Any): string[] => g.groups.flatMap((x: Any) => x.rules.map((r: Any) => r.alert));
      t.strictSame(names(rule.spec), names(shipped), 'the PrometheusRule has the shipped rules');
      const urls: string[] = rule.spec.groups.flatMap((x: Any) => x.rules.map((r: Any) => r.annotations.runbook_url));
      t.ok(urls.every((u) => u.startsWith(`${v.prometheusRule.runbookBaseURL}#`)), 'runbook links point at runbookBaseURL');
    }
    t.match(out.notes, ds.metadata.name, 'NOTES.txt names the DaemonSet');
  });
}

t.test('the chart carries the shipped alert rules unchanged', async (t) => {
  t.equal(readFileSync(`${CHART}/files/faultline-rules.yml`, 'utf8'), readFileSync(`${ROOT}deploy/prometheus/faultline-rules.yml`, 'utf8'), 'cp deploy/prometheus/faultline-rules.yml deploy/helm/faultline/files/');
});

t.test('every value in values.yaml has a comment above it or above its parent', async (t) => {
  const lines = readFileSync(`${CHART}/values.yaml`, 'utf8').split('\n');
  const documented: boolean[] = []; // by indent: is this key or a parent documented
  let commentAbove = false;
  for (const line of lines) {
    if (/^\s*#/.test(line)) {
      commentAbove = true;
      continue;
    }
    const m = /^(\s*)([A-Za-z0-9_.-]+):(.*)$/.exec(line);
    if (!m) {
      commentAbove = false;
      continue;
    }
    const depth = m[1]!.length / 2;
    documented.length = depth;
    const parentDocumented = documented.some(Boolean);
    documented[depth] = commentAbove || parentDocumented;
    const isLeaf = m[3]!.trim() !== '';
    if (isLeaf) t.ok(documented[depth], `${m[2]} is documented`);
    commentAbove = false;
  }
});

const helm = spawnSync('helm', ['version'], { encoding: 'utf8' });
t.test('helm lint and helm template', { skip: helm.error ? 'helm is not on PATH' : false }, async (t) => {
  for (const valuesFile of valueSets) {
    const extra = valuesFile ? ['-f', valuesFile] : [];
    const lint = spawnSync('helm', ['lint', CHART, ...extra], { encoding: 'utf8' });
    t.equal(lint.status, 0, `helm lint ${valuesFile}: ${lint.stdout}${lint.stderr}`);
    const tpl = spawnSync('helm', ['template', 'faultline', CHART, '-n', 'monitoring', ...extra], { encoding: 'utf8' });
    t.equal(tpl.status, 0, `helm template ${valuesFile}: ${tpl.stderr}`);
  }
});
