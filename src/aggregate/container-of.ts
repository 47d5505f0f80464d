/**
 * What a cgroup path says about the workload in it: container runtime and
 * id, Kubernetes pod UID and QoS class, or the systemd unit. Covers the
 * systemd and cgroupfs drivers of kubelet (containerd, CRI-O, Docker),
 * plain Docker and Podman, and systemd services. Pure.
 */

export type Runtime = 'containerd' | 'cri-o' | 'docker' | 'podman' | '';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort' | '';

export interface Workload {
  readonly runtime: Runtime;
  readonly containerId: string;
  readonly podUid: string;
  readonly qos: QosClass;
  /** The innermost systemd unit that is not a container scope, e.g. nginx.service. */
  readonly unit: string;
}

const EMPTY: Workload = { runtime: '', containerId: '', podUid: '', qos: '', unit: '' };

const SCOPE_RUNTIMES: readonly [RegExp, Runtime][] = [
  [/^cri-containerd-([0-9a-f]{64})\.scope$/, 'containerd'],
  [/^crio-([0-9a-f]{64})\.scope$/, 'cri-o'],
  [/^docker-([0-9a-f]{64})\.scope$/, 'docker'],
  [/^libpod-([0-9a-f]{64})\.scope$/, 'podman'],
];
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
const POD_SLICE = new RegExp(`^kubepods(?:-(burstable|besteffort))?-pod(${UID})\\.slice$`);
const POD_DIR = new RegExp(`^pod(${UID})$`);
const CONTAINER_DIR = /^([0-9a-f]{64})$/;

export function workloadOf(path: string): Workload {
  const parts = path.split('/').filter(Boolean);
  let runtime: Runtime = '';
  let containerId = '';
  let podUid = '';
  let qos: QosClass = '';
  let unit = '';
  const inKubepods = parts.some((p) => p === 'kubepods' || p === 'kubepods.slice' || p.startsWith('kubelet-kubepods'));
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const pod = POD_SLICE.exec(part) ?? (inKubepods ? POD_DIR.exec(part) : null);
    if (pod) {
      podUid = (POD_SLICE.test(part) ? pod[2]! : pod[1]!).replace(/_/g, '-');
      if (POD_SLICE.test(part)) qos = (pod[1] as QosClass | undefined) ?? 'guaranteed';
      else qos = parts[i - 1] === 'burstable' ? 'burstable' : parts[i - 1] === 'besteffort' ? 'besteffort' : 'guaranteed';
      continue;
    }
    const scope = SCOPE_RUNTIMES.find(([re]) => re.test(part));
    if (scope) {
      containerId = scope[0].exec(part)![1]!;
      runtime = scope[1];
      continue;
    }
    const bare = CONTAINER_DIR.exec(part);
    if (bare) {
      containerId = bare[1]!;
      // cgroupfs driver: /kubepods/.../pod<uid>/<id> (runtime not named), or /docker/<id>.
      runtime = parts[i - 1] === 'docker' ? 'docker' : parts[i - 1] === 'libpod_parent' ? 'podman' : runtime;
      continue;
    }
    if (/\.(service|scope)$/.test(part) && !part.startsWith('crio-conmon-') && !part.startsWith('libpod-conmon-')) unit = part;
  }
  if (!runtime && !containerId && !podUid && !unit) return EMPTY;
  return { runtime, containerId, podUid, qos, unit };
}
