// A small client for Patroni's REST API (GET /cluster, POST /switchover, PATCH /config) and
// etcd's /health, over loopback HTTP with a deadline on every call: a paused member never answers.

import http from 'node:http';
import type { Address } from '../runtime/runtime.js';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One HTTP request; rejects on a connection error or when `timeoutMs` passes without an answer. */
export function httpRequest(address: Address, method: string, path: string, options: { body?: unknown; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: address.host,
        port: address.port,
        method,
        path,
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${path} on ${address.host}:${address.port}: no answer within ${options.timeoutMs ?? 2000}ms`)), options.timeoutMs ?? 2000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}

/** A member as GET /cluster lists it. */
export interface ClusterMember {
  name: string;
  /** leader, standby_leader, sync_standby, replica */
  role: string;
  /** running, starting, stopped, crashed, "creating replica"... */
  state: string;
  host?: string;
  port?: number;
  timeline?: number;
  /** bytes behind the leader, or "unknown" */
  lag?: number | string;
}

export interface ClusterView {
  members: ClusterMember[];
}

export async function getCluster(rest: Address, timeoutMs = 1000): Promise<ClusterView> {
  const answer = await httpRequest(rest, 'GET', '/cluster', { timeoutMs });
  if (answer.status !== 200) throw new Error(`GET /cluster answered ${answer.status}: ${answer.body.slice(0, 200)}`);
  const parsed = JSON.parse(answer.body) as ClusterView;
  return { members: Array.isArray(parsed.members) ? parsed.members : [] };
}

/** The member /cluster calls leader (or standby_leader, in a standby cluster), if any. */
export function leaderOf(view: ClusterView): ClusterMember | undefined {
  return view.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
}
