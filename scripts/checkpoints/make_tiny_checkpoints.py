#!/usr/bin/env python3
"""Writes the tiny ChatGLM-6B-shaped checkpoints in test/fixtures/checkpoints/ with real PyTorch.

The TypeScript checkpoint readers (packages/glm/src/checkpoint/) are tested against these files:
every directory holds the checkpoint as PyTorch itself (or the safetensors library) writes it, plus a
`manifest.json` listing every tensor's dtype, shape, file and the sha256 of its raw bytes
(little-endian, contiguous, row-major), which the tests compare bit for bit.

The model is ChatGLM-6B's architecture scaled down (docs/model.md §1.1, §2.2): vocab 96, hidden 64, 4 heads,
2 layers, MLP inner 256, fp16, with the special ids of the project's tiny test configs (bos 94, eos
95, mask 92, gmask 93, pad 0). The weights come from a fixed seed; they are not a trained model.

Directories written (each with config.json and manifest.json unless noted):
  pytorch-sharded/      pytorch_model-0000{1..3}-of-00003.bin + pytorch_model.bin.index.json, split
                        mid-layer like the real index (docs/model.md §2.4), with a stale metadata.total_size
  pytorch-single/       pytorch_model.bin (an OrderedDict state dict with _metadata, as
                        model.state_dict() gives)
  safetensors-single/   model.safetensors
  safetensors-sharded/  model-0000{1..3}-of-00003.safetensors + model.safetensors.index.json
  thudm-int8/           THUDM int8 layout (docs/model.md §9.1): the four linears of each layer as int8
                        `weight` [out, in] + fp16 `weight_scale` [out]; quantization_bit 8
  thudm-int4/           same with int4 packed two per byte, [out, in/2], high nibble = even column
  ptuning/              P-tuning v2 checkpoint (docs/model.md §10): only transformer.prefix_encoder.*,
                        pre_seq_len 4, prefix_projection off, fp32 as the official scripts save it
  ptuning-projection/   the same with prefix_projection on
  dtypes/               pytorch_model.bin and model.safetensors holding one tensor of each dtype the
                        readers support (F32 F16 BF16 I8 U8 I32 I64), views at non-zero storage
                        offsets, a 0-d scalar, an empty tensor and an nn.Parameter (no config.json)
  refuse-global/        pytorch_model.bin whose pickle calls os.system (it must never be unpickled)
  refuse-strided/       pytorch_model.bin holding a transposed (non-contiguous) tensor
  refuse-legacy/        pytorch_model.bin in the pre-1.6 (non-zip) torch.save format
  pytorch-torch1/       the pytorch-single model saved by PyTorch 1.x (as the ChatGLM-6B shards of 2023
                        were): written only when the script runs under torch 1.x, and only that

Run (from the repository root; needs torch, safetensors and numpy). The PyPI torch wheel pulls in
~5 GB of CUDA packages; the CPU-only index (download.pytorch.org) is not reachable from this
project's machines, so the full wheel is what was used:
  python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch safetensors numpy
  /tmp/torchvenv/bin/python scripts/checkpoints/make_tiny_checkpoints.py
and, for pytorch-torch1/ (Python 3.11 at most):
  python3 -m venv /tmp/torch1venv && /tmp/torch1venv/bin/pip install "torch==1.13.1" "numpy<2"
  /tmp/torch1venv/bin/python scripts/checkpoints/make_tiny_checkpoints.py
The committed fixtures were written by torch 2.15.0 with safetensors 0.8.0, and torch 1.13.1 for
pytorch-torch1/ (see each manifest's "torch" and "safetensors" fields). Rerunning with the same
versions rewrites every file byte for byte, except refuse-legacy/ (the old format pickles a random
magic key); the tests compare tensors against the manifests, never whole files.
"""

import collections
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "checkpoints"

VOCAB, HIDDEN, HEADS, LAYERS, INNER, PRE_SEQ_LEN = 96, 64, 4, 2, 256, 4
HEAD_DIM = HIDDEN // HEADS
QUANTIZED = ("attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int8: "I8",
    torch.uint8: "U8", torch.int32: "I32", torch.int64: "I64",
}


def config_json(**extra):
    """Hugging Face config.json keys as in docs/model.md §1.1, with the tiny sizes."""
    return {
        "architectures": ["ChatGLMModel"],
        "model_type": "chatglm",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "num_layers": LAYERS,
        "num_attention_heads": HEADS,
        "inner_hidden_size": INNER,
        "layernorm_epsilon": 1e-05,
        "max_sequence_length": 64,
        "position_encoding_2d": True,
        "bos_token_id": 94,
        "eos_token_id": 95,
        "mask_token_id": 92,
        "gmask_token_id": 93,
        "pad_token_id": 0,
        "torch_dtype": "float16",
        "use_cache": True,
        **extra,
    }


def base_state_dict():
    """The fp16 model in the order of modeling_chatglm's state_dict(); lm_head equals the embedding (§2.3)."""
    g = torch.Generator().manual_seed(20230513)

    def randn(*shape, scale=0.02):
        return (torch.randn(*shape, generator=g) * scale).half()

    sd = collections.OrderedDict()
    sd["transformer.word_embeddings.weight"] = randn(VOCAB, HIDDEN, scale=1.0)
    # rotary_emb.inv_freq covers half a head (2-D positions), so it has HEAD_DIM / 4 entries.
    rot = HEAD_DIM // 2
    inv_freq = (1.0 / (10000 ** (torch.arange(0, rot, 2).float() / rot))).half()
    for i in range(LAYERS):
        p = f"transformer.layers.{i}."
        sd[p + "input_layernorm.weight"] = (1 + randn(HIDDEN, scale=0.1)).half()
        sd[p + "input_layernorm.bias"] = randn(HIDDEN)
        sd[p + "attention.query_key_value.weight"] = randn(3 * HIDDEN, HIDDEN)
        sd[p + "attention.query_key_value.bias"] = randn(3 * HIDDEN)
        sd[p + "attention.rotary_emb.inv_freq"] = inv_freq.clone()
        sd[p + "attention.dense.weight"] = randn(HIDDEN, HIDDEN)
        sd[p + "attention.dense.bias"] = randn(HIDDEN)
        sd[p + "post_attention_layernorm.weight"] = (1 + randn(HIDDEN, scale=0.1)).half()
        sd[p + "post_attention_layernorm.bias"] = randn(HIDDEN)
        sd[p + "mlp.dense_h_to_4h.weight"] = randn(INNER, HIDDEN)
        sd[p + "mlp.dense_h_to_4h.bias"] = randn(INNER)
        sd[p + "mlp.dense_4h_to_h.weight"] = randn(HIDDEN, INNER)
        sd[p + "mlp.dense_4h_to_h.bias"] = randn(HIDDEN)
    sd["transformer.final_layernorm.weight"] = (1 + randn(HIDDEN, scale=0.1)).half()
    sd["transformer.final_layernorm.bias"] = randn(HIDDEN)
    sd["lm_head.weight"] = sd["transformer.word_embeddings.weight"].clone()
    return sd


def shard_of(name):
    """Three shards cut mid-layer like the real index (§2.4): layer 1's dense_4h_to_h opens shard 2, lm_head alone in shard 3."""
    if name == "lm_head.weight":
        return 3
    if name.startswith("transformer.layers.1.mlp.dense_4h_to_h.") or name.startswith("transformer.final_layernorm."):
        return 2
    return 1


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def with_metadata(sd):
    """An OrderedDict carrying _metadata, the way nn.Module.state_dict() returns it (pickled with BUILD)."""
    out = collections.OrderedDict(sd)
    out._metadata = collections.OrderedDict([("", {"version": 1})])
    return out


def fresh_dir(name):
    d = OUT / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def write_manifest(d, fmt, tensors_by_file, note=None):
    tensors = {}
    for file, sd in tensors_by_file.items():
        for name, t in sd.items():
            tensors[name] = {
                "dtype": DTYPE_NAMES[t.dtype],
                "shape": list(t.shape),
                "file": file,
                "sha256": hashlib.sha256(raw_bytes(t)).hexdigest(),
            }
    manifest = {
        "written_by": "scripts/checkpoints/make_tiny_checkpoints.py",
        "torch": torch.__version__,
        **({"safetensors": sys.modules["safetensors"].__version__} if "safetensors" in sys.modules else {}),
        "format": fmt,
        **({"note": note} if note else {}),
        "tensors": tensors,
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def write_config(d, **extra):
    (d / "config.json").write_text(json.dumps(config_json(**extra), indent=2) + "\n")


def split(sd, pattern):
    shards = collections.OrderedDict()
    for name, t in sd.items():
        shards.setdefault(pattern.format(n=shard_of(name)), collections.OrderedDict())[name] = t
    return shards


def stale_index(shards):
    real = sum(t.numel() * t.element_size() for sd in shards.values() for t in sd.values())
    # Like the real index (§2.4), total_size is wrong on purpose: readers must ignore it.
    return {
        "metadata": {"total_size": real * 2 + 12345},
        "weight_map": {name: file for file, sd in shards.items() for name in sd},
    }


def write_pytorch_sharded(sd):
    d = fresh_dir("pytorch-sharded")
    shards = split(sd, "pytorch_model-{n:05d}-of-00003.bin")
    for file, part in shards.items():
        # transformers saves each shard as a plain dict (EMPTY_DICT in the pickle).
        torch.save(dict(part), d / file)
    (d / "pytorch_model.bin.index.json").write_text(json.dumps(stale_index(shards), indent=2) + "\n")
    write_config(d)
    write_manifest(d, "pytorch-sharded", shards)


def write_pytorch_single(sd):
    d = fresh_dir("pytorch-single")
    torch.save(with_metadata(sd), d / "pytorch_model.bin")
    write_config(d)
    write_manifest(d, "pytorch-single", {"pytorch_model.bin": sd})


def save_file(tensors, file, metadata=None):
    # Imported here: the torch 1.x run (pytorch-torch1/) has no safetensors.
    from safetensors.torch import save_file as save

    save(tensors, file, metadata=metadata)


def write_safetensors_single(sd):
    d = fresh_dir("safetensors-single")
    save_file(dict(sd), str(d / "model.safetensors"), metadata={"format": "pt"})
    write_config(d)
    write_manifest(d, "safetensors-single", {"model.safetensors": sd})


def write_safetensors_sharded(sd):
    d = fresh_dir("safetensors-sharded")
    shards = split(sd, "model-{n:05d}-of-00003.safetensors")
    for file, part in shards.items():
        save_file(dict(part), str(d / file), metadata={"format": "pt"})
    (d / "model.safetensors.index.json").write_text(json.dumps(stale_index(shards), indent=2) + "\n")
    write_config(d)
    write_manifest(d, "safetensors-sharded", shards)


def quantize(weight, bits):
    """THUDM quantization.py (§9.1): per-row absmax scale in fp16, round half to even, int4 packed high nibble first."""
    w = weight.half()
    scale = (w.abs().max(dim=-1).values / (2 ** (bits - 1) - 1)).half()
    q = torch.round(w / scale[:, None]).to(torch.int8)
    if bits == 4:
        assert int(q.abs().max()) <= 7
        q = ((q[:, 0::2] << 4) | (q[:, 1::2] & 0x0F)).to(torch.int8)
    return q.contiguous(), scale


def write_thudm(sd, bits):
    d = fresh_dir(f"thudm-int{bits}")
    out = collections.OrderedDict()
    for name, t in sd.items():
        linear = name[: -len(".weight")] if name.endswith(".weight") else None
        if linear and linear.split(".", 3)[-1] in QUANTIZED:
            q, scale = quantize(t, bits)
            out[name] = q
            out[linear + ".weight_scale"] = scale
        else:
            out[name] = t
    torch.save(with_metadata(out), d / "pytorch_model.bin")
    write_config(d, quantization_bit=bits)
    write_manifest(d, f"thudm-int{bits}", {"pytorch_model.bin": out})


def write_ptuning(projection):
    d = fresh_dir("ptuning-projection" if projection else "ptuning")
    g = torch.Generator().manual_seed(128 + int(projection))
    kv = 2 * LAYERS * HIDDEN
    p = "transformer.prefix_encoder."
    sd = collections.OrderedDict()
    if projection:
        sd[p + "embedding.weight"] = torch.randn(PRE_SEQ_LEN, HIDDEN, generator=g)
        sd[p + "trans.0.weight"] = torch.randn(HIDDEN, HIDDEN, generator=g) * 0.1
        sd[p + "trans.0.bias"] = torch.randn(HIDDEN, generator=g) * 0.1
        sd[p + "trans.2.weight"] = torch.randn(kv, HIDDEN, generator=g) * 0.1
        sd[p + "trans.2.bias"] = torch.randn(kv, generator=g) * 0.1
    else:
        sd[p + "embedding.weight"] = torch.randn(PRE_SEQ_LEN, kv, generator=g)
    torch.save(sd, d / "pytorch_model.bin")
    write_config(d, pre_seq_len=PRE_SEQ_LEN, prefix_projection=projection)
    write_manifest(d, "ptuning-projection" if projection else "ptuning", {"pytorch_model.bin": sd})


def write_dtypes():
    d = fresh_dir("dtypes")
    g = torch.Generator().manual_seed(7)
    shared = torch.randn(10, generator=g)
    matrix = torch.randn(4, 6, generator=g).half()
    param = torch.nn.Parameter(torch.randn(3, 2, generator=g))
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(2, 3, generator=g)
    sd["f16"] = torch.tensor([1.0, -2.0, 0.5, 65504.0, 2.0 ** -24, float("inf")], dtype=torch.float16)
    sd["bf16"] = torch.randn(5, generator=g).bfloat16()
    sd["i8"] = torch.tensor([[-128, -7, 0], [7, 100, 127]], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 1, 255, 128], dtype=torch.uint8)
    sd["i32"] = torch.tensor([-(2 ** 31), 0, 2 ** 31 - 1], dtype=torch.int32)
    sd["i64"] = torch.tensor([-(2 ** 63), 1, 2 ** 63 - 1], dtype=torch.int64)
    # Views: both live in `shared`'s one storage; torch.save keeps the storage and the offset.
    sd["view.head"] = shared[:3]
    sd["view.tail"] = shared[6:]
    sd["view.rows"] = matrix[1:3]  # storage offset 6 elements, contiguous rows
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    sd["parameter"] = param
    torch.save(sd, d / "pytorch_model.bin")
    # safetensors refuses shared storage, so it gets contiguous copies of the same values.
    save_file({k: v.detach().clone().contiguous() for k, v in sd.items()}, str(d / "model.safetensors"))
    plain = collections.OrderedDict((k, v.detach()) for k, v in sd.items())
    write_manifest(d, "dtypes", {"pytorch_model.bin": plain}, note="model.safetensors holds the same tensors")


class SystemCall:
    """Pickles as a call of os.system: what a malicious checkpoint looks like. The command is harmless."""

    def __reduce__(self):
        return (os.system, ("echo this chatglm-cluster test fixture must never be unpickled",))


def write_refused():
    d = fresh_dir("refuse-global")
    torch.save({"transformer.final_layernorm.bias": torch.zeros(4), "payload": SystemCall()}, d / "pytorch_model.bin")
    d = fresh_dir("refuse-strided")
    torch.save({"transposed": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}, d / "pytorch_model.bin")
    d = fresh_dir("refuse-legacy")
    torch.save({"x": torch.zeros(2)}, d / "pytorch_model.bin", _use_new_zipfile_serialization=False)


def write_torch1(sd):
    d = fresh_dir("pytorch-torch1")
    torch.save(with_metadata(sd), d / "pytorch_model.bin")
    write_config(d)
    write_manifest(d, "pytorch-torch1", {"pytorch_model.bin": sd})


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    sd = base_state_dict()
    if int(torch.__version__.split(".")[0]) < 2:
        write_torch1(sd)
        print(f"wrote {OUT / 'pytorch-torch1'} with torch {torch.__version__}", file=sys.stderr)
        return
    import safetensors  # noqa: F401  (recorded in every manifest of this run)

    write_pytorch_sharded(sd)
    write_pytorch_single(sd)
    write_safetensors_single(sd)
    write_safetensors_sharded(sd)
    write_thudm(sd, 8)
    write_thudm(sd, 4)
    write_ptuning(False)
    write_ptuning(True)
    write_dtypes()
    write_refused()
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT} with torch {torch.__version__}: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
