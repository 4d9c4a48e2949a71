// examples/codec.mjs
import { ResponseDecoderStream, ResponseEncoderStream } from 'subprocess-transform/wire';

const responses = ReadableStream.from([new Response('hello'), Response.json({ n: 1 }, { status: 201 })]);
const bytes = responses.pipeThrough(new ResponseEncoderStream()); // Responses in, HTTP/1.1 bytes out
const decoded = bytes.pipeThrough(new ResponseDecoderStream({ limits: { maxHeaderBytes: 16 * 1024 } }));
for await (const response of decoded) console.log(response.status, await response.text());
// 200 hello
// 201 {"n":1}
