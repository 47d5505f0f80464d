import t from 'tap';
import { workloadOf, type Workload } from '../src/aggregate/container-of.js';

const ID = 'a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const UID = '5f2b8c1e-9d3a-4e7b-8c6f-1a2b3c4d5e6f';
const UID_ = UID.replace(/-/g, '_');
const none: Workload = { runtime: '', containerId: '', podUid: '', qos: '', unit: '' };

const cases: [string, Partial<Workload>][] = [
  // kubelet, systemd driver
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', containerId: ID, podUid: UID, qos: 'burstable' }],
  [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`, { runtime: 'cri-o', containerId: ID, podUid: UID, qos: 'besteffort' }],
  [`/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`, { runtime: 'docker', containerId: ID, podUid: UID, qos: 'guaranteed' }],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, { podUid: UID, qos: 'burstable' }],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`, { podUid: UID, qos: 'burstable' }],
  // kind / nested kubelet
  [`/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', containerId: ID }],
  // kubelet, cgroupfs driver
  [`/kubepods/burstable/pod${UID}/${ID}`, { containerId: ID, podUid: UID, qos: 'burstable' }],
  [`/kubepods/besteffort/pod${UID}/${ID}`, { containerId: ID, podUid: UID, qos: 'besteffort' }],
  [`/kubepods/pod${UID}/${ID}`, { containerId: ID, podUid: UID, qos: 'guaranteed' }],
  [`/kubepods/burstable/pod${UID}`, { podUid: UID, qos: 'burstable' }],
  // plain Docker and Podman
  [`/docker/${ID}`, { runtime: 'docker', containerId: ID }],
  [`/system.slice/docker-${ID}.scope`, { runtime: 'docker', containerId: ID }],
  [`/machine.slice/libpod-${ID}.scope`, { runtime: 'podman', containerId: ID }],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`, { runtime: 'podman', containerId: ID, unit: 'user@1000.service' }],
  [`/libpod_parent/${ID}`, { runtime: 'podman', containerId: ID }],
  // systemd services and sessions
  ['/system.slice/nginx.service', { unit: 'nginx.service' }],
  ['/system.slice/containerd.service', { unit: 'containerd.service' }],
  ['/user.slice/user-1000.slice/session-3.scope', { unit: 'session-3.scope' }],
  // nothing to say
  ['/', {}],
  ['', {}],
  ['/faultline-test-1-2', {}],
  ['/process_api/88d12b1ccd82fc93b25c6f8d738bf316', {}],
  [`/pod${UID}/${ID.slice(0, 12)}`, {}],
];

for (const [path, want] of cases) {
  t.strictSame(workloadOf(path), { ...none, ...want }, path || '(empty)');
}
