"""The official webhook signing vectors of protocol.md §4.3, shared by the signing, webhook and emulator tests."""

from __future__ import annotations

V1_SECRET = "naOC0ocQE3shWLAfffVLB1rhYPG7"
V1_PUBLIC = "d7c362fe78aef81ff23287b493628b5db02a3c4fe30b215e4d19609b5d76673a"

V2_APPID = "11111111"
V2_SECRET = "DG5g3B4j9X2KOErG"
V2_PLAIN_TOKEN = "Arq0D5A61EgUu4OxUvOp"
V2_EVENT_TS = "1725442341"
V2_BODY = b'{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}'
V2_SIGNATURE = (
    "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
    "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
)
V2_RESPONSE = f'{{"plain_token": "{V2_PLAIN_TOKEN}","signature": "{V2_SIGNATURE}"}}'.encode()

V3_BODY_PRETTY = b'{\n  "op": 0,\n  "d": {},\n  "t": "GATEWAY_EVENT_NAME"\n}'
V3_BODY_DISPLAYED = b'{ "op": 0,"d": {}, "t": "GATEWAY_EVENT_NAME"}'
V3_SIGNATURE = (
    "865ad13a61752ca65e26bde6676459cd36cf1be609375b37bd62af366e1dc25a"
    "8dc789ba7f14e017ada3d554c671a911bfdf075ba54835b23391d509579ed002"
)

V4_SECRET = "123456abcdef"
V4_TIMESTAMP = "1728981195"
V4_SIGNATURE = (
    "e949b5b94ef4103df903fb031d1d16e358db3db83e79e117edd404c8508be3ce"
    "8a76d7bad1bed353194c126a1a5915b4ad8b5288c1191cc53a12acffccd82004"
)
V4_BODY = (
    '{"id":"ROBOT1.0_veoihSEXDc8Q.g-6eLpNIa11bH8MisOjn-m-LKxCPntMk6exUXgcWCGpVO7L2QKTNZzjZzFFDSbiOFcqAPWyVA!!",'
    '"content":"哦一下","timestamp":"2024-10-15T16:33:15+08:00","author":{"id":"675860273","user_openid":"675860273"}}'
).encode()
