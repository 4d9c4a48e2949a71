// The message-writing side of an exchange (exchange.ts): the next batch of the handler's body for its process,
// the first kept for a retry (message-source.ts). Through the same view as its ending (exchange-end.ts).
import type { EndingView } from './exchange-end.ts';
import { failExchange } from './exchange-end.ts';
import type { ExchangeHost } from './exchange-host.ts';

/**
 * The next batch of the message for `host`; undefined when it is all written, 'stale' when the exchange
 * moved on (retried elsewhere, failed) while the handler's body was read.
 */
export async function readNextBatch<E>(
  x: EndingView<E>,
  host: ExchangeHost<E>,
): Promise<Uint8Array[] | undefined | 'stale'> {
  const replay = x.message.takeReplay();
  if (replay !== undefined) return replay;
  x.timer.pause('handler');
  let next: IteratorResult<Uint8Array[], void>;
  try {
    next = await x.message.read();
  } catch (error) {
    // The handler's body failed: the message is cut short, and the process would wait for the rest of it.
    if (x.stage().host === host) {
      failExchange(x, error);
      host.abandon(x.exchange, 'abort');
    }
    return 'stale';
  } finally {
    x.timer.resume('handler');
  }
  // Moved on, or its process is going: the batch stays for a retry to take over, never lost.
  if (x.stage().host !== host || !host.takes(x.exchange)) return 'stale';
  const batch = x.message.take(next);
  // Counted once: a retry's replay of this batch is the same message again.
  x.trace?.wrote(batch);
  return batch;
}
