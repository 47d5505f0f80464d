/**
 * Pod name, namespace and container name for the pod UIDs and container ids
 * that cgroup paths carry, from the Kubernetes API: one list+watch of the
 * pods on this node (fieldSelector spec.nodeName), cached. Off by default
 * (serve --kubernetes.enabled). The client library loads only when enabled.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { FaultlineError } from '../errors.js';

export interface PodNames {
  readonly pod: string;
  readonly namespace: string;
  /** '' when the container id is not (or not yet) in the pod's status. */
  readonly container: string;
}

/** The fields of a Pod faultline reads. */
export interface PodObject {
  metadata?: { uid?: string; name?: string; namespace?: string };
  status?: {
    containerStatuses?: { name?: string; containerID?: string }[];
    initContainerStatuses?: { name?: string; containerID?: string }[];
    ephemeralContainerStatuses?: { name?: string; containerID?: string }[];
  };
}

/** Pods by UID, their containers by runtime id. Pure. */
export class PodIndex {
  private readonly pods = new Map<string, { name: string; namespace: string; containers: Map<string, string> }>();

  upsert(pod: PodObject): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const containers = new Map<string, string>();
    const s = pod.status ?? {};
    for (const c of [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? []), ...(s.ephemeralContainerStatuses ?? [])]) {
      // containerd://<id>, cri-o://<id>, docker://<id>
      const id = c.containerID?.replace(/^[a-z-]+:\/\//, '');
      if (id && c.name) containers.set(id, c.name);
    }
    this.pods.set(uid, { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', containers });
  }

  remove(pod: PodObject): void {
    if (pod.metadata?.uid) this.pods.delete(pod.metadata.uid);
  }

  lookup(podUid: string, containerId: string): PodNames | null {
    const pod = this.pods.get(podUid);
    if (!pod) return null;
    return { pod: pod.name, namespace: pod.namespace, container: pod.containers.get(containerId) ?? '' };
  }

  get size(): number {
    return this.pods.size;
  }
}

export interface KubePodsOptions {
  /** This node's name (the pods watched are those scheduled here). */
  nodeName: string;
  /** A kubeconfig file; default: the in-cluster service account. */
  kubeconfig?: string;
}

/** A running list+watch of this node's pods. */
export class KubePods {
  readonly index = new PodIndex();
  lastError: string | null = null;
  private stopFn: (() => Promise<void>) | null = null;

  static async start(options: KubePodsOptions): Promise<KubePods> {
    if (!options.nodeName) {
      throw new FaultlineError('BAD_FLAG', '--kubernetes.enabled needs the node name: set --kubernetes.node-name or NODE_NAME (downward API spec.nodeName)');
    }
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    try {
      if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
      else kc.loadFromCluster();
    } catch (err) {
      throw new FaultlineError('KUBERNETES', `cannot load Kubernetes credentials: ${(err as Error).message}`);
    }
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    const watcher = new k8s.ListWatch<V1Pod>(
      '/api/v1/pods',
      new k8s.Watch(kc),
      () => core.listPodForAllNamespaces({ fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    const pods = new KubePods();
    watcher.on(k8s.ADD, (p) => pods.index.upsert(p));
    watcher.on(k8s.UPDATE, (p) => pods.index.upsert(p));
    watcher.on(k8s.DELETE, (p) => pods.index.remove(p));
    let started = false;
    watcher.on(k8s.ERROR, (err) => {
      pods.lastError = String((err as Error | undefined)?.message ?? err);
      // ListWatch does not restart itself after an error: retry with a pause.
      if (started) setTimeout(() => void watcher.start().catch(() => undefined), 5000).unref();
    });
    watcher.on(k8s.CONNECT, () => (pods.lastError = null));
    await watcher.start().catch((err: unknown) => (pods.lastError = err instanceof Error ? err.message : String(err)));
    if (pods.lastError) {
      await watcher.stop();
      throw new FaultlineError('KUBERNETES', `cannot list the pods of node ${options.nodeName}: ${pods.lastError}; check the API server address and the service account's RBAC (pods: list, watch)`);
    }
    started = true;
    pods.stopFn = () => watcher.stop();
    return pods;
  }

  lookup(podUid: string, containerId: string): PodNames | null {
    return podUid ? this.index.lookup(podUid, containerId) : null;
  }

  async stop(): Promise<void> {
    await this.stopFn?.();
    this.stopFn = null;
  }
}
