// Protobuf's wire format for the few messages t2t's lean reader (src/client/lean/read-api.ts)
// and the payload codec (Temporal's Payload, src/codec/aes-gcm-codec.ts) write and read,
// from the descriptor table as it stands: protobufjs, loaded and then generating
// an encoder, a decoder and two converters per message, was a third of a
// `t2t status`'s CPU, where these messages need varints, strings, bytes,
// sub-messages, maps and repeated messages. Values come out as protobufjs's
// `toObject(…, { longs: Number })` gives them: fields absent from the bytes are
// absent, 64-bit integers are numbers, bytes are Buffers, enums their numbers.
// Fields the table does not name are skipped, as protobuf does with any field a
// reader does not know.

/** A field as read-api.ts describes it. */
export interface WireField {
  id: number;
  type: string;
  rule?: 'repeated';
  keyType?: string;
}

export type WireTypes = Record<string, { fields: Record<string, WireField> }>;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const SCALARS: Record<string, number> = { string: LENGTH_DELIMITED, bytes: LENGTH_DELIMITED, int32: VARINT, int64: VARINT, uint32: VARINT, uint64: VARINT, bool: VARINT };

export class WireFormatError extends Error {}

/** Encodes and decodes the messages of one descriptor table. */
export class WireCodec {
  private readonly byId = new Map<string, Map<number, [string, WireField]>>();

  constructor(private readonly types: WireTypes) {}

  encode(typeName: string, value: object): Buffer {
    const out: Buffer[] = [];
    this.writeMessage(out, typeName, value as Record<string, unknown>);
    return Buffer.concat(out);
  }

  decode(typeName: string, bytes: Uint8Array): Record<string, unknown> {
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.readMessage(typeName, buffer, 0, buffer.length);
  }

  private type(name: string): Record<string, WireField> {
    const type = this.types[name];
    if (!type) throw new WireFormatError(`no message ${name} in the lean reader's descriptor`);
    return type.fields;
  }

  private writeMessage(out: Buffer[], typeName: string, value: Record<string, unknown>): void {
    for (const [name, field] of Object.entries(this.type(typeName))) {
      const v = value[name];
      // proto3 writes no field that holds its default ('' , 0, false, no bytes): absent and default read the same.
      if (v == null || v === '' || v === 0 || v === false || (v instanceof Uint8Array && v.length === 0)) continue;
      if (field.keyType) {
        for (const [key, entry] of Object.entries(v as Record<string, unknown>)) {
          if (entry == null) continue;
          const inner: Buffer[] = [];
          writeTag(inner, 1, LENGTH_DELIMITED);
          writeBytes(inner, Buffer.from(key, 'utf8'));
          this.writeValue(inner, 2, field.type, entry);
          writeTag(out, field.id, LENGTH_DELIMITED);
          writeBytes(out, Buffer.concat(inner));
        }
      } else if (field.rule === 'repeated') {
        for (const item of v as unknown[]) this.writeValue(out, field.id, field.type, item);
      } else {
        this.writeValue(out, field.id, field.type, v);
      }
    }
  }

  private writeValue(out: Buffer[], id: number, type: string, v: unknown): void {
    switch (type) {
      case 'string':
        writeTag(out, id, LENGTH_DELIMITED);
        writeBytes(out, Buffer.from(String(v), 'utf8'));
        return;
      case 'bytes':
        writeTag(out, id, LENGTH_DELIMITED);
        writeBytes(out, v as Uint8Array);
        return;
      case 'bool':
        writeTag(out, id, VARINT);
        writeVarint(out, v ? 1 : 0);
        return;
      case 'int32':
      case 'int64':
      case 'uint32':
      case 'uint64':
        writeTag(out, id, VARINT);
        writeVarint(out, Number(v));
        return;
      default: {
        const inner: Buffer[] = [];
        this.writeMessage(inner, type, v as Record<string, unknown>);
        writeTag(out, id, LENGTH_DELIMITED);
        writeBytes(out, Buffer.concat(inner));
      }
    }
  }

  private fieldsById(typeName: string): Map<number, [string, WireField]> {
    let map = this.byId.get(typeName);
    if (!map) {
      map = new Map(Object.entries(this.type(typeName)).map(([name, field]) => [field.id, [name, field]]));
      this.byId.set(typeName, map);
    }
    return map;
  }

  private readMessage(typeName: string, buf: Buffer, start: number, end: number): Record<string, unknown> {
    const fields = this.fieldsById(typeName);
    const message: Record<string, unknown> = {};
    const reader = new Reader(buf, start, end);
    while (reader.pos < end) {
      const tag = reader.varint();
      const id = Math.floor(tag / 8);
      const wireType = tag % 8;
      const known = fields.get(id);
      const expected = known && (known[1].keyType ? LENGTH_DELIMITED : (SCALARS[known[1].type] ?? LENGTH_DELIMITED));
      if (!known || wireType !== expected) {
        reader.skip(wireType);
        continue;
      }
      const [name, field] = known;
      if (field.keyType) {
        const entryEnd = reader.lengthEnd();
        const entry = new Reader(buf, reader.pos, entryEnd);
        let key = '';
        let value: unknown;
        while (entry.pos < entryEnd) {
          const entryTag = entry.varint();
          if (entryTag === ((1 << 3) | LENGTH_DELIMITED)) {
            const keyEnd = entry.lengthEnd();
            key = buf.toString('utf8', entry.pos, keyEnd);
            entry.pos = keyEnd;
          } else if (entryTag === ((2 << 3) | (SCALARS[field.type] ?? LENGTH_DELIMITED))) value = this.readValue(field.type, entry, buf);
          else entry.skip(entryTag % 8);
        }
        reader.pos = entryEnd;
        const map = (message[name] ??= {}) as Record<string, unknown>;
        // An entry without its value has the value's default (protobuf's rule for maps).
        map[key] = value ?? (field.type === 'bytes' ? Buffer.alloc(0) : field.type === 'string' ? '' : SCALARS[field.type] === undefined ? {} : 0);
      } else if (field.rule === 'repeated') {
        ((message[name] ??= []) as unknown[]).push(this.readValue(field.type, reader, buf));
      } else {
        message[name] = this.readValue(field.type, reader, buf);
      }
    }
    return message;
  }

  private readValue(type: string, reader: Reader, buf: Buffer): unknown {
    switch (type) {
      case 'string': {
        const end = reader.lengthEnd();
        const text = buf.toString('utf8', reader.pos, end);
        reader.pos = end;
        return text;
      }
      case 'bytes': {
        const end = reader.lengthEnd();
        const bytes = buf.subarray(reader.pos, end);
        reader.pos = end;
        return bytes;
      }
      case 'bool':
        return reader.varint() !== 0;
      case 'int32':
        return reader.varint() | 0;
      case 'int64':
        return reader.signedVarint64();
      case 'uint32':
      case 'uint64':
        return reader.varint();
      default: {
        const end = reader.lengthEnd();
        const message = this.readMessage(type, buf, reader.pos, end);
        reader.pos = end;
        return message;
      }
    }
  }
}

class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.end) throw new WireFormatError('a message cut short');
    return this.buf[this.pos++];
  }

  /** An unsigned varint up to 2^53 (tags, lengths, counts); larger values lose precision, as a Number would. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i += 1) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new WireFormatError('a varint longer than 10 bytes');
  }

  /** A two's-complement 64-bit varint as a Number (negative when the top bit is set). */
  signedVarint64(): number {
    const unsigned = this.varint();
    return unsigned >= 2 ** 63 ? unsigned - 2 ** 64 : unsigned;
  }

  /** Reads a length and answers where those bytes end. */
  lengthEnd(): number {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.end) throw new WireFormatError('a message cut short');
    return end;
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === FIXED64) this.pos += 8;
    else if (wireType === LENGTH_DELIMITED) this.pos = this.lengthEnd();
    else if (wireType === FIXED32) this.pos += 4;
    else throw new WireFormatError(`wire type ${wireType}, which the lean reader does not read`);
    if (this.pos > this.end) throw new WireFormatError('a message cut short');
  }
}

function writeTag(out: Buffer[], id: number, wireType: number): void {
  writeVarint(out, id * 8 + wireType);
}

function writeVarint(out: Buffer[], value: number): void {
  if (!Number.isInteger(value)) throw new WireFormatError(`${value} is not an integer`);
  if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
    const bytes: number[] = [];
    let v = value;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    out.push(Buffer.from(bytes));
    return;
  }
  // A negative integer is written as its 64-bit two's complement, in ten bytes, as protobuf does.
  let v = value < 0 ? BigInt.asUintN(64, BigInt(value)) : BigInt(value);
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  out.push(Buffer.from(bytes));
}

function writeBytes(out: Buffer[], bytes: Uint8Array): void {
  writeVarint(out, bytes.length);
  out.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
