export { BodyChannel, type BodySource, createResponse, hasBody } from './body.ts';
export { ResponseDecoderStream } from './decoder-stream.ts';
export { ResponseEncoderStream } from './encoder-stream.ts';
export { WireError, type WireErrorCode } from './errors.ts';
export type { BodyFraming } from './head.ts';
export { DEFAULT_LIMITS, type WireLimits } from './limits.ts';
export { parseResponses } from './parse-responses.ts';
export { type ParserEvents, type ParserOptions, type ResponseHead, ResponseParser } from './parser.ts';
export { encodeResponse, ResponseEncoder, type SerializeInit, serializeResponse } from './serialize.ts';
