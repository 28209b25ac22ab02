"""A script in Temporal's Python SDK that reads and writes the product's payloads
from its documented format alone (docs/payload-format.md): it queries a migration's
status and sends it an action, both through its own implementation of the codec.

    python migration_script.py <temporal address> <namespace> <workflow id> <actor>

The payload keys come from T2T_PAYLOAD_KEYS (`<key id>:<base64 key>`, first one encrypts).
T2T_SIGNED_ACTION, when set, is the approve payload the action gateway signed (`actor`,
`requestId`, `proof`: what `t2t sign approve` prints), sent as it is; otherwise an
unsigned one for <actor>. Prints one JSON line: the phase before the action and the keys
the query's answer used.
"""
import asyncio
import base64
import dataclasses
import json
import os
import sys
import uuid
import zlib
from typing import Dict, List, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import temporalio.converter
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

ENCODING = b"binary/encrypted"
CIPHER = b"AES-256-GCM"
NONCE_BYTES = 12
COMPRESS_ABOVE_BYTES = 1024


def parse_keys(text: str) -> Dict[str, bytes]:
    keys: Dict[str, bytes] = {}
    for entry in text.replace(",", " ").split():
        key_id, _, material = entry.partition(":")
        key = base64.b64decode(material)
        if len(key) != 32:
            raise SystemExit(f"key {key_id!r} must be 32 bytes")
        keys[key_id] = key
    return keys


class T2TPayloadCodec(temporalio.converter.PayloadCodec):
    def __init__(self, keys: Dict[str, bytes]) -> None:
        self.keys = keys
        self.encrypt_key_id = next(iter(keys))
        self.key_ids_read: List[str] = []

    async def encode(self, payloads: Sequence[Payload]) -> List[Payload]:
        encoded = []
        for payload in payloads:
            plain = payload.SerializeToString()
            metadata = {"encoding": ENCODING, "encryption-cipher": CIPHER, "encryption-key-id": self.encrypt_key_id.encode()}
            if len(plain) > COMPRESS_ABOVE_BYTES:
                compressed = zlib.compress(plain)
                if len(compressed) < len(plain):
                    plain = compressed
                    metadata["encryption-compression"] = b"zlib"
            nonce = os.urandom(NONCE_BYTES)
            # AESGCM.encrypt returns the ciphertext with the 16-byte tag after it: nonce | ciphertext | tag.
            sealed = AESGCM(self.keys[self.encrypt_key_id]).encrypt(nonce, plain, None)
            encoded.append(Payload(metadata=metadata, data=nonce + sealed))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> List[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            if payload.metadata.get("encryption-cipher") != CIPHER:
                raise ValueError("unknown cipher")
            key_id = payload.metadata["encryption-key-id"].decode()
            self.key_ids_read.append(key_id)
            data = payload.data
            plain = AESGCM(self.keys[key_id]).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
            if payload.metadata.get("encryption-compression") == b"zlib":
                plain = zlib.decompress(plain)
            decoded.append(Payload.FromString(plain))
        return decoded


async def main() -> None:
    address, namespace, workflow_id, actor = sys.argv[1:5]
    codec = T2TPayloadCodec(parse_keys(os.environ["T2T_PAYLOAD_KEYS"]))
    converter = dataclasses.replace(temporalio.converter.default(), payload_codec=codec)
    client = await Client.connect(address, namespace=namespace, data_converter=converter)
    handle = client.get_workflow_handle(workflow_id)
    status = await handle.query("status")
    signed = os.environ.get("T2T_SIGNED_ACTION")
    # A signed payload is sent untouched: the gateway's proof covers its exact content.
    action = json.loads(signed) if signed else {"actor": actor, "requestId": f"python-{uuid.uuid4()}"}
    await handle.signal("approve", action)
    print(json.dumps({"phaseBefore": status["phase"], "targetMigrationId": status["targetMigrationId"], "keyIdsRead": sorted(set(codec.key_ids_read))}))


if __name__ == "__main__":
    asyncio.run(main())
    # The SDK's Rust bridge keeps threads that can abort the interpreter's own
    # shutdown ("PyGILState_Release ... finalizing", temporalio/sdk-python#300);
    # the work is done and printed, so leave without that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
