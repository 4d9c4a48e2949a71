// The floor of a round trip to another process: read a 4-byte big-endian length and that many bytes from stdin,
// write them back the same way. No parsing, no Request or Response: what any pipe protocol costs at least.
import process from 'node:process';

let pending: Buffer = Buffer.alloc(0);
process.stdin.on('data', (chunk: Buffer) => {
  pending = pending.byteLength === 0 ? chunk : Buffer.concat([pending, chunk]);
  while (pending.byteLength >= 4) {
    const end = 4 + pending.readUInt32BE(0);
    if (pending.byteLength < end) return;
    process.stdout.write(pending.subarray(0, end));
    pending = pending.subarray(end);
  }
});
