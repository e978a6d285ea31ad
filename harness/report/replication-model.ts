// Who streamed from whom over the run, and whether replication was encrypted, as the reports
// draw it. Pure, over a Results object only: the spans come from the lag samples (each names
// the upstream its standby streamed from at that moment), TLS from the scenario and the
// replication-tls events (pg_stat_ssl, read whenever a standby began streaming).

import type { Results } from '../results/results.js';
import { eventsOf, type EventOf } from '../record/events.js';

/** A stretch of samples in which `node` streamed from the same `upstream`. */
export interface StreamSpan {
  node: string;
  upstream: string;
  /** run time (ms) of the span's first and last sample */
  fromMs: number;
  toMs: number;
  samples: number;
  /** of those, the samples in which the upstream listed it as streaming */
  streaming: number;
}

/** Spans in sample order, per standby; samples without an upstream (older results) are skipped. */
export function streamSpans(results: Pick<Results, 'lag'>): StreamSpan[] {
  const open = new Map<string, StreamSpan>();
  const spans: StreamSpan[] = [];
  for (const s of results.lag.samples) {
    if (!s.upstream) continue;
    let span = open.get(s.node);
    if (!span || span.upstream !== s.upstream) {
      span = { node: s.node, upstream: s.upstream, fromMs: s.t, toMs: s.t, samples: 0, streaming: 0 };
      open.set(s.node, span);
      spans.push(span);
    }
    span.toMs = s.t;
    span.samples++;
    if (s.state === 'streaming') span.streaming++;
  }
  return spans;
}

/** The last span of each standby: who it streamed from when the sampling ended. */
export function finalUpstreams(results: Pick<Results, 'lag'>): Map<string, StreamSpan> {
  const last = new Map<string, StreamSpan>();
  for (const span of streamSpans(results)) last.set(span.node, span);
  return last;
}

export interface TlsView {
  mode: string;
  clientCerts: boolean;
  /** the run's throwaway CA, when it was made */
  ca?: { subject: string; fingerprint: string; serverNames: string[] };
  /** every replication connection whose encryption was read, in order */
  connections: EventOf<'replication-tls'>[];
}

/** null when the scenario had no tls section: replication and clients used plain TCP. */
export function tlsView(results: Pick<Results, 'scenario' | 'events'>): TlsView | null {
  const tls = results.scenario.tls;
  if (!tls) return null;
  const ready = eventsOf(results.events, 'tls-ready')[0];
  return {
    mode: tls.mode,
    clientCerts: tls.clientCerts,
    ...(ready ? { ca: { subject: ready.ca, fingerprint: ready.caFingerprint, serverNames: ready.serverNames } } : {}),
    connections: eventsOf(results.events, 'replication-tls'),
  };
}

/** "on: verify-full, client certificates; replication over TLSv1.3 (4 of 4 connections)" */
export function describeTls(view: TlsView | null): string {
  if (!view) return 'off: replication and clients on plain TCP (scram-sha-256)';
  const encrypted = view.connections.filter((c) => c.ssl);
  const versions = [...new Set(encrypted.map((c) => c.version ?? '?'))].join(', ');
  const replication = view.connections.length
    ? `replication over ${versions || 'no TLS'} (${encrypted.length} of ${view.connections.length} connections read in pg_stat_ssl encrypted)`
    : 'no replication connection was read';
  return `on: sslmode ${view.mode}${view.clientCerts ? ', client certificates required (CN = user)' : ''}; workload connects with ${view.mode}; ${replication}`;
}
