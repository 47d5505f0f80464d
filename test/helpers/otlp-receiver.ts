/**
 * A real OTLP metrics receiver on loopback for live tests: OTLP/HTTP
 * (protobuf or JSON) and OTLP/gRPC, decoding requests with the official
 * opentelemetry-proto definitions (the protobufjs module generated from them
 * that @opentelemetry/otlp-transformer 0.57 ships). It can be told to answer
 * 503 (down) or to answer late (slow).
 */
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage } from 'node:http';
import * as grpc from '@grpc/grpc-js';

const require = createRequire(import.meta.url);
// The generated protobuf root is untyped JavaScript: require() gives it as any.
const root = require('otlp-transformer-protos/build/src/generated/root.js');
const Request = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
const Response = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;

export interface Point {
  attributes: Record<string, string>;
  value?: number;
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  startTimeUnixNano: string;
  timeUnixNano: string;
}

export interface PushedMetric {
  unit: string;
  description: string;
  kind: 'sum' | 'gauge' | 'histogram';
  temporality?: string;
  points: Point[];
}

export interface Push {
  /** Date.now() when it arrived. */
  at: number;
  headers: Record<string, string>;
  resource: Record<string, string>;
  metrics: Map<string, PushedMetric>;
}

export type ReceiverMode = 'ok' | 'down' | 'slow';

export interface Receiver {
  /** OTEL_EXPORTER_OTLP_ENDPOINT for HTTP (http://127.0.0.1:PORT) and gRPC (http://127.0.0.1:GRPCPORT). */
  readonly httpUrl: string;
  readonly grpcUrl: string;
  /** Accepted exports, in arrival order. */
  readonly pushes: Push[];
  /** Every request, accepted or not, with its arrival time. */
  readonly attempts: number[];
  mode: ReceiverMode;
  close(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function attrs(list: Any[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list ?? []) {
    const v = a.value ?? {};
    out[a.key] = String(v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue ?? '');
  }
  return out;
}

/** A decoded ExportMetricsServiceRequest as plain data. */
export function decodeRequest(body: Buffer, headers: Record<string, string>, json = false): Push {
  const message = json ? Request.fromObject(JSON.parse(body.toString('utf8'))) : Request.decode(body);
  const request = Request.toObject(message, { longs: String, enums: String });
  const push: Push = { at: Date.now(), headers, resource: {}, metrics: new Map() };
  for (const rm of request.resourceMetrics ?? []) {
    Object.assign(push.resource, attrs(rm.resource?.attributes));
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const kind = m.sum ? 'sum' : m.gauge ? 'gauge' : 'histogram';
        const data = m.sum ?? m.gauge ?? m.histogram;
        push.metrics.set(m.name, {
          unit: m.unit ?? '',
          description: m.description ?? '',
          kind,
          temporality: data.aggregationTemporality,
          points: (data.dataPoints ?? []).map((p: Any) => ({
            attributes: attrs(p.attributes),
            value: p.asDouble ?? (p.asInt !== undefined ? Number(p.asInt) : undefined),
            count: p.count !== undefined ? Number(p.count) : undefined,
            sum: p.sum,
            bucketCounts: p.bucketCounts?.map(Number),
            explicitBounds: p.explicitBounds,
            startTimeUnixNano: p.startTimeUnixNano ?? '0',
            timeUnixNano: p.timeUnixNano ?? '0',
          })),
        });
      }
    }
  }
  return push;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startOtlpReceiver(): Promise<Receiver> {
  const pushes: Push[] = [];
  const attempts: number[] = [];
  const state = { mode: 'ok' as ReceiverMode };
  const http = createServer((req, res) => {
    void (async () => {
      const data = await body(req);
      attempts.push(Date.now());
      if (req.url !== '/v1/metrics' || req.method !== 'POST') return void res.writeHead(404).end();
      if (state.mode === 'down') return void res.writeHead(503).end();
      if (state.mode === 'slow') await new Promise((r) => setTimeout(r, 5000));
      const json = (req.headers['content-type'] ?? '').includes('json');
      pushes.push(decodeRequest(data, req.headers as Record<string, string>, json));
      const reply = Response.encode(Response.create({})).finish();
      res.writeHead(200, { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : Buffer.from(reply));
    })();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  const server = new grpc.Server();
  server.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: (x: Buffer) => x,
        requestDeserialize: (x: Buffer) => x,
        responseSerialize: () => Buffer.from(Response.encode(Response.create({})).finish()),
        responseDeserialize: (x: Buffer) => x,
      },
    },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        attempts.push(Date.now());
        if (state.mode === 'down') return callback({ code: grpc.status.UNAVAILABLE, details: 'down' });
        const headers = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
        pushes.push(decodeRequest(call.request, headers));
        callback(null, {});
      },
    },
  );
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const { port } = http.address() as { port: number };
  return {
    httpUrl: `http://127.0.0.1:${port}`,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    pushes,
    attempts,
    get mode() {
      return state.mode;
    },
    set mode(m: ReceiverMode) {
      state.mode = m;
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      server.forceShutdown();
    },
  };
}
