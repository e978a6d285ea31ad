// One HTTP request to the app on loopback, with a timeout and an abort signal, told as one of
// three outcomes: the app answered (a status and the start of its body), it did not answer in
// time, or the connection failed. node:http with a keep-alive agent: the load holds at most
// `connections` requests in flight, so the agent needs no limit of its own.

import http from 'node:http';
import type { AppRequestConfig } from '../scenario/scenario.js';

/** Where the app listens: always loopback (the network rule). */
export interface AppAddress {
  host: string;
  port: number;
}

export type HttpOutcome =
  | { kind: 'response'; status: number; body: string }
  | { kind: 'timeout'; timeoutMs: number }
  /** code: ECONNREFUSED, ECONNRESET...; sent: the whole request had been written before it failed */
  | { kind: 'error'; code: string; message: string; sent: boolean };

export interface HttpRequestOptions {
  timeoutMs: number;
  agent?: http.Agent;
  signal?: AbortSignal;
  /** sent as X-Request-Id: the app may store it with its write (the exact ledger) and log it */
  requestId?: string;
}

/** Bodies are kept only this far: enough for an id and an error message. */
const MAX_BODY_BYTES = 64 * 1024;

/** The header every request carries; the sample service reads it (app/sample-service/README.md). */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Sends the request once. A keep-alive socket the app closed while it was idle fails at once
 * with ECONNRESET before anything was answered: that one is retried on a fresh connection, as
 * HTTP clients do (Node's docs on request.reusedSocket), so an idle timeout in the app is not
 * counted as the app being down.
 */
export async function httpRequest(address: AppAddress, request: AppRequestConfig, options: HttpRequestOptions): Promise<HttpOutcome> {
  const started = Date.now();
  const first = await attempt(address, request, options);
  if (first.outcome.kind === 'error' && first.reused && (first.outcome.code === 'ECONNRESET' || first.outcome.code === 'EPIPE')) {
    const left = options.timeoutMs - (Date.now() - started);
    if (left > 0 && !options.signal?.aborted) return (await attempt(address, request, { ...options, timeoutMs: left })).outcome;
  }
  return first.outcome;
}

function attempt(address: AppAddress, request: AppRequestConfig, options: HttpRequestOptions): Promise<{ outcome: HttpOutcome; reused: boolean }> {
  return new Promise((resolve) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers: Record<string, string | number> = {};
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    Object.assign(headers, request.headers ?? {});
    if (options.requestId) headers[REQUEST_ID_HEADER] = options.requestId;

    let settled = false;
    let sent = false;
    let timer: NodeJS.Timeout | undefined;
    const req = http.request({ host: address.host, port: address.port, method: request.method, path: request.path, headers, agent: options.agent });
    const finish = (outcome: HttpOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ outcome, reused: req.reusedSocket });
    };
    const onAbort = () => {
      finish({ kind: 'error', code: 'ABORTED', message: 'pgdrill stopped waiting (the load was stopped)', sent });
      req.destroy();
    };
    timer = setTimeout(() => {
      finish({ kind: 'timeout', timeoutMs: options.timeoutMs });
      req.destroy();
    }, options.timeoutMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('finish', () => (sent = true));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'error', code: err.code ?? 'ERROR', message: err.message, sent }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (kept < MAX_BODY_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      res.on('end', () => finish({ kind: 'response', status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8') }));
      // the app dropped the connection halfway through its answer
      res.on('aborted', () => finish({ kind: 'error', code: 'ECONNRESET', message: `the app closed the connection during its ${res.statusCode} answer`, sent: true }));
      res.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'error', code: err.code ?? 'ERROR', message: err.message, sent: true }));
    });
    req.end(body);
  });
}

/** "POST /orders" */
export function requestLabel(request: Pick<AppRequestConfig, 'method' | 'path'>): string {
  return `${request.method} ${request.path}`;
}
