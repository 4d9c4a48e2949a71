// The soak's transform: answers "transformed <input body>", and misbehaves on a message whose request carried
// `X-Soak: <action>` (sent to it as Transform-Request-Header-X-Soak), so the client that set the header knows
// exactly which requests are innocent. Written without the library, so it can break the protocol on purpose.
//   ok              answer
//   crash           exit 1 without answering
//   exit0           exit 0 without answering (it read the message: no retry may replay it)
//   hang            never answer, and so never read on
//   garble          an answer that breaks the protocol before it is complete (one write)
//   poison-headers  an answer with 300 header fields, over the parent's limit
//   duplicate       the answer twice in one write
//   late-duplicate  the answer, then the same answer again 1-30 ms later (often after later messages)
//   close-stdout    half an answer, then stdout closed while the process lingers
//   error-endless   a Transform-Error head, then a body that trickles for ever
import { appendFileSync, closeSync } from 'node:fs';
import { answer, serveRaw } from '../test/fixtures/_raw.mjs';

const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** Bytes a strict parser must refuse before the answer is complete, each with the right id. */
function garble(message, body) {
  const id = `Transform-Request-Id: ${message.id}\r\n`;
  return Buffer.from(
    pick([
      `HTTP/1.1 200 OK\r\n${id}Content-Length: ${body.length}\r\nno colon here\r\n\r\n${body}`,
      `HTTP/1.1 2x0 OK\r\n${id}Content-Length: ${body.length}\r\n\r\n${body}`,
      `HTTP/1.1 200 OK\r\n${id}Transfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`,
      `HTTP/1.1 200 OK\r\n${id}Content-Length: 1\r\nContent-Length: 2\r\n\r\n${body}`,
      `\u0000\u0001garbage\r\n\r\n`,
    ]),
    'latin1',
  );
}

// SOAK_READ_LOG: a file to which each message's body is appended as it is taken up (one short O_APPEND write,
// so lines from processes at once never mix): the soak counts the messages read more than once.
const readLog = process.env.SOAK_READ_LOG;

serveRaw(async (message) => {
  if (readLog) appendFileSync(readLog, `${message.body}\n`);
  const action = message.fields.get('transform-request-header-x-soak') ?? 'ok';
  const body = `transformed ${message.body}`;
  const bytes = answer(message, body);
  switch (action) {
    case 'crash':
      process.exit(1);
      break;
    case 'exit0':
      process.exit(0);
      break;
    case 'hang':
      return new Promise(() => {});
    case 'garble':
      return garble(message, body);
    case 'poison-headers':
      return answer(message, body, {
        headers: Array.from({ length: 300 }, (_, i) => [`X-Poison-${i}`, 'x']),
      });
    case 'duplicate':
      return Buffer.concat([bytes, bytes]);
    case 'late-duplicate':
      setTimeout(() => process.stdout.write(bytes), 1 + Math.floor(Math.random() * 30));
      return bytes;
    case 'close-stdout':
      process.stdout.write(bytes.subarray(0, bytes.length - 4), () => closeSync(1));
      return new Promise(() => {});
    case 'error-endless': {
      const head = `HTTP/1.1 500 Soak\r\nTransform-Error: soak\r\nTransform-Request-Id: ${message.id}\r\n`;
      process.stdout.write(`${head}Transfer-Encoding: chunked\r\n\r\n`);
      setInterval(() => process.stdout.write('5\r\nsoak!\r\n'), 50);
      return new Promise(() => {});
    }
    default:
      return bytes;
  }
});
