// The soak's clients: keep-alive HTTP GETs of `/page/<token>`, each marked `X-Soak: <action>` from a seeded mix,
// a hostile client's bursts of poison, and the tally of what came back. The token is unique per request and the only correct answer is
// "transformed page <token>", so an answer that reached the wrong request names the request it belongs to.
import http from 'node:http';

export const FAULTS = [
  'crash',
  'exit0',
  'hang',
  'garble',
  'poison-headers',
  'duplicate',
  'late-duplicate',
  'close-stdout',
  'error-endless',
] as const;
export type Fault = (typeof FAULTS)[number];
export type Action = 'ok' | Fault;

/** Faults that hold a process until `timeout` or longer: a fifth as frequent, so they cannot starve the pool. */
const SLOW = new Set<Action>(['hang', 'close-stdout', 'error-endless']);

/** mulberry32: a small deterministic generator, so a run's sequence of actions can be replayed by seed. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The action of each next request: a fault with probability `rate`, the faults weighted, else 'ok'. */
export function createPicker(faults: readonly Fault[], rate: number, seed: number): () => Action {
  const random = createRandom(seed);
  const weighted = faults.flatMap((fault) => Array<Fault>(SLOW.has(fault) ? 1 : 5).fill(fault));
  return () => {
    if (weighted.length === 0 || random() >= rate) return 'ok';
    return weighted[Math.floor(random() * weighted.length)] as Fault;
  };
}

const expectedBody = (token: string): string => `transformed page ${token}`;
const ANY_ANSWER = /^transformed page (\S+)$/;

/** Outcomes by action: `ok` (200, exact body), `cross-delivered`, `wrong body`, `<status> <code>`, `client <code>`. */
export class Tally {
  readonly byAction = new Map<Action, Map<string, number>>();
  /** The first few cross-delivered or wrong bodies, to show. */
  readonly samples: string[] = [];
  /** Innocent failures by outcome and the server's reason (`502 ERR_TRANSFORM_PROTOCOL: ...`). */
  readonly innocentReasons = new Map<string, number>();
  /** Ms from request to the end of the answer, by action. */
  readonly latencies = new Map<Action, number[]>();
  /** The action of every request sent, by the body the transform receives (`page <token>`). */
  readonly actionOf = new Map<string, Action>();

  add(action: Action, outcome: string, detail: string, ms: number): void {
    const latencies = this.latencies.get(action) ?? [];
    this.latencies.set(action, latencies);
    latencies.push(ms);
    const outcomes = this.byAction.get(action) ?? new Map<string, number>();
    this.byAction.set(action, outcomes);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if ((outcome === 'cross-delivered' || outcome === 'wrong body') && this.samples.length < 10)
      this.samples.push(`${action}: ${detail}`);
    if (action === 'ok' && outcome !== 'ok') {
      const grouped = outcome === 'cross-delivered' || outcome === 'wrong body' || detail === '';
      const key = grouped ? outcome : `${outcome}: ${detail}`;
      this.innocentReasons.set(key, (this.innocentReasons.get(key) ?? 0) + 1);
    }
  }

  /** Requests of these actions (all when none given) with this outcome (any when none given). */
  count(actions?: (action: Action) => boolean, outcome?: string): number {
    let sum = 0;
    for (const [action, outcomes] of this.byAction) {
      if (actions !== undefined && !actions(action)) continue;
      for (const [name, n] of outcomes) if (outcome === undefined || name === outcome) sum += n;
    }
    return sum;
  }
}

type Result =
  | { status: number; code: string | undefined; reason: string | undefined; body: string }
  | { error: string };

function classify(result: Result, token: string): { outcome: string; detail: string } {
  if ('error' in result) return { outcome: `client ${result.error}`, detail: '' };
  const detail = result.reason ?? `${token} got ${JSON.stringify(result.body.slice(0, 80))}`;
  if (result.status !== 200) return { outcome: `${result.status} ${result.code ?? '(no code)'}`, detail };
  if (result.body === expectedBody(token)) return { outcome: 'ok', detail };
  return { outcome: ANY_ANSWER.test(result.body) ? 'cross-delivered' : 'wrong body', detail };
}

/** One GET; never rejects. Past `deadline` ms the request is destroyed and counts as `client DEADLINE`. */
function get(
  agent: http.Agent,
  port: number,
  path: string,
  action: Action,
  deadline: number,
): Promise<Result> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: Result): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const fail = (error: Error & { code?: string }): void => settle({ error: error.code ?? error.message });
    const request = http.get(
      { host: '127.0.0.1', port, path, agent, headers: { 'x-soak': action } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          if (!response.complete) return fail(Object.assign(new Error('incomplete'), { code: 'INCOMPLETE' }));
          const { 'x-soak-error': code, 'x-soak-reason': reason } = response.headers;
          settle({
            status: response.statusCode ?? 0,
            code: typeof code === 'string' ? code : undefined,
            reason: typeof reason === 'string' ? reason : undefined,
            body: Buffer.concat(chunks).toString(),
          });
        });
      },
    );
    request.on('error', fail);
    const timer = setTimeout(
      () => request.destroy(Object.assign(new Error('deadline'), { code: 'DEADLINE' })),
      deadline,
    );
  });
}

export interface Load {
  port: number;
  clients: number;
  /** Ms a client waits for one answer before giving up on it. */
  deadline: number;
  pick: () => Action;
  /** A hostile client: every `every` ms, `size` requests at once with the same poison. */
  burst: { size: number; every: number };
  tally: Tally;
}

/** Faults that end their process at once: what the hostile client sends, one kind per burst. */
const POISON: readonly Fault[] = ['crash', 'poison-headers', 'exit0', 'garble'];

let nextIndex = 0;
let nextBurst = 0;

/**
 * `load.clients` clients and the hostile one on one keep-alive agent until `until` (ms since the epoch), then
 * their sockets closed.
 */
export async function runLoad(load: Load, until: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: load.clients + load.burst.size });
  const send = async (action: Action): Promise<void> => {
    const token = `${(nextIndex++).toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    load.tally.actionOf.set(`page ${token}`, action);
    const sent = performance.now();
    const result = await get(agent, load.port, `/page/${token}`, action, load.deadline);
    const { outcome, detail } = classify(result, token);
    load.tally.add(action, outcome, detail, performance.now() - sent);
  };
  const client = async (): Promise<void> => {
    while (Date.now() < until) await send(load.pick());
  };
  const hostile = async (): Promise<void> => {
    const { size, every } = load.burst;
    if (size === 0 || every === 0) return;
    while (Date.now() + every < until) {
      await new Promise((resolve) => setTimeout(resolve, every));
      const poison = POISON[nextBurst++ % POISON.length] as Fault;
      await Promise.all(Array.from({ length: size }, () => send(poison)));
    }
  };
  await Promise.all([...Array.from({ length: load.clients }, client), hostile()]);
  agent.destroy();
}

/** GET a JSON path on a connection of its own (no agent), within `deadline` ms. */
export async function getJson<T>(port: number, path: string, deadline: number): Promise<T> {
  const result = await get(new http.Agent({ keepAlive: false }), port, path, 'ok', deadline);
  if ('error' in result || result.status !== 200)
    throw new Error(`GET ${path}: ${JSON.stringify(result).slice(0, 200)}`);
  return JSON.parse(result.body) as T;
}
