/*
 * Live: faults and OOM kills land on the right cgroup, and a kubepods-style
 * cgroup hierarchy (created by the test) yields pod UID and container id.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { SKIP_NOT_ROOT, buildWorkload, scrape, startExporter, sum, type KernelAccount } from './helpers/live.js';
import { createMemoryCgroup, type TestCgroup } from './helpers/cgroup.js';
import { RECORDED_POD, fakeApiServer } from './helpers/kube.js';

const { uid: UID, container: CONTAINER } = RECORDED_POD;

/** `workload run ARGS` with the shell moved into the cgroup first: all its processes are in it. */
function runIn(cgroup: TestCgroup, ...args: string[]): KernelAccount {
  const out = execFileSync('sh', ['-c', `echo $$ > ${cgroup.procsFile} && exec ${buildWorkload()} run ${args.join(' ')}`], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as KernelAccount;
}

t.test('faults land on the cgroup the process runs in', { skip: SKIP_NOT_ROOT }, async (t) => {
  const exporter = await startExporter();
  t.teardown(() => exporter.stop());
  const a = createMemoryCgroup(1 << 30, 'a');
  const b = createMemoryCgroup(1 << 30, 'b');
  t.teardown(() => a.remove());
  t.teardown(() => b.remove());
  const ka = runIn(a, 'anon', '20');
  const kb = runIn(b, 'anon', '40');
  const { samples } = await scrape(exporter.url);
  const inA = sum(samples, 'faultline_cgroup_page_faults_total', { cgroup: a.name });
  const inB = sum(samples, 'faultline_cgroup_page_faults_total', { cgroup: b.name });
  // The cgroup also holds the `run` parent (a few hundred faults), never the other workload.
  t.ok(inA >= ka.minflt && inA < ka.minflt + 2000, `${a.name}: ${inA} faults, its workload ${ka.minflt}`);
  t.ok(inB >= kb.minflt && inB < kb.minflt + 2000, `${b.name}: ${inB} faults, its workload ${kb.minflt}`);
  t.ok(sum(samples, 'faultline_cgroup_page_faults_total', { cgroup: a.name, region: 'anon' }) >= 5120);
  t.ok(sum(samples, 'faultline_comm_page_faults_total', { comm: 'workload' }) >= ka.minflt + kb.minflt, 'and by comm');
});

t.test('with --cgroups.hierarchy=unified, faults land on v2 cgroups', { skip: SKIP_NOT_ROOT }, async (t) => {
  const v2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  const exporter = await startExporter(['--cgroups.hierarchy=unified']);
  t.teardown(() => exporter.stop());
  const names = [`/faultline-test-${process.pid}-v2a`, `/faultline-test-${process.pid}-v2b`];
  for (const name of names) mkdirSync(`${v2}${name}`);
  t.teardown(() => {
    for (const name of names) rmdirSync(`${v2}${name}`);
  });
  const run = (name: string, mib: string): KernelAccount =>
    JSON.parse(
      execFileSync('sh', ['-c', `echo $$ > ${v2}${name}/cgroup.procs && exec ${buildWorkload()} run anon ${mib}`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .at(-1)!,
    ) as KernelAccount;
  const ka = run(names[0]!, '12');
  const kb = run(names[1]!, '24');
  const { samples } = await scrape(exporter.url);
  const inA = sum(samples, 'faultline_cgroup_page_faults_total', { cgroup: names[0]! });
  const inB = sum(samples, 'faultline_cgroup_page_faults_total', { cgroup: names[1]! });
  t.ok(inA >= ka.minflt && inA < ka.minflt + 2000, `${names[0]} (v2 at ${v2}): ${inA}, its workload ${ka.minflt}`);
  t.ok(inB >= kb.minflt && inB < kb.minflt + 2000, `${names[1]}: ${inB}, its workload ${kb.minflt}`);
});


t.test('a kubepods-style hierarchy yields pod UID, container id and QoS; OOM kills carry them', { skip: SKIP_NOT_ROOT }, async (t) => {
  const kubeconfig = await fakeApiServer(t);
  const exporter = await startExporter(['--kubernetes.enabled', '--kubernetes.node-name=node-a', `--kubernetes.kubeconfig=${kubeconfig}`]);
  t.teardown(() => exporter.stop());
  const pod = createMemoryCgroup(64 << 20, `kubepods/burstable/pod${UID}/${CONTAINER}`);
  let removed = false;
  t.teardown(() => (removed ? undefined : pod.remove()));
  runIn(pod, 'anon', '8');
  let { samples } = await scrape(exporter.url);
  const info = samples.find((s) => s.name === 'faultline_cgroup_info' && s.labels.cgroup === pod.name);
  t.match(
    info?.labels,
    { pod_uid: UID, container_id: CONTAINER, qos: 'burstable', runtime: '', pod: 'api-7d9c6b5f4-x2kqp', namespace: 'shop', container: 'api' },
    'faultline_cgroup_info, named through the (recorded) Kubernetes API',
  );

  const victim = spawn('sh', ['-c', `echo $$ > ${pod.procsFile} && exec ${buildWorkload()} grow 1024 0`], { stdio: 'ignore' });
  const signal = await new Promise<string | null>((resolve) => victim.on('exit', (_c, sig) => resolve(sig)));
  t.equal(signal, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  await pod.remove();
  removed = true;
  ({ samples } = await scrape(exporter.url));
  t.equal(
    sum(samples, 'faultline_oom_kills_total', { comm: 'workload', cgroup: pod.name, pod_uid: UID, container_id: CONTAINER }),
    1,
    'the kill is counted with its cgroup, pod and container, after the cgroup is gone',
  );
  t.match(
    samples.find((s) => s.name === 'faultline_oom_victim_info' && s.labels.pod_uid === UID)?.labels,
    { pod: 'api-7d9c6b5f4-x2kqp', namespace: 'shop', container: 'api', constraint: 'memcg' },
  );
});
