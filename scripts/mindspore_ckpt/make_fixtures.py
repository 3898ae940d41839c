#!/usr/bin/python3
"""MindSpore .ckpt test fixtures, written with protobuf's own runtime from checkpoint.proto's text,
independently of model/mindspore_ckpt.ts and model/mindspore_names.ts (which the tests check
against these files).

Run by hand from the repository root (Debian's python3-protobuf; the outputs are committed):
    /usr/bin/python3 scripts/mindspore_ckpt/make_fixtures.py

Writes
  tests/fixtures/shufflenet_0.5x_g3.ckpt  the parameters of tests/fixtures/shufflenet_0.5x_g3.safetensors
      (`param.*`) renamed to the seed tutorial's MindSpore cells (BatchNorm2d gamma/beta/moving_mean/
      moving_variance, GroupConv as `convs.K` per group), a training checkpoint's optimizer state
      (learning_rate, momentum, global_step, and `moments.<tag>` holding the fixture's gradients as
      stand-in momentum buffers) and save_checkpoint(crc_check=True)'s CRC trailer.
  tests/fixtures/mindspore_small.ckpt  one small value of each kind the reader handles (every float
      type, integers, a scalar, a str), written with 64-byte slices so several parameters come as
      consecutive Values with one tag, as MindSpore slices parameters over 512 MiB.
"""
import binascii
import json
import re
import struct
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# mindspore/ccsrc/utils/checkpoint.proto
PROTO = """
syntax = "proto2";

message Checkpoint {
    message Value {
        required string tag = 1;
        required TensorProto tensor = 2;
    }
    repeated Value value = 1;
}

message TensorProto {
    // The shape of the tensor.
    repeated int64 dims = 1;
    // The type of the tensor.
    required string tensor_type = 2;
    // The data of the tensor.
    required bytes tensor_content = 3;
}
"""

SCALARS = {'string': descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
           'bytes': descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
           'int64': descriptor_pb2.FieldDescriptorProto.TYPE_INT64}
LABELS = {'required': descriptor_pb2.FieldDescriptorProto.LABEL_REQUIRED,
          'optional': descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
          'repeated': descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED}


def load_proto(text):
    """The proto2 subset checkpoint.proto uses (nested messages, labelled fields) as message classes."""
    fdp = descriptor_pb2.FileDescriptorProto(name='checkpoint.proto', syntax='proto2')
    stack, names, refs = [], set(), []  # refs: (field, scope of its message) to resolve
    text = re.sub(r'//[^\n]*', '', text)
    for tok in re.finditer(r'message\s+(\w+)\s*\{|\}|(required|optional|repeated)\s+(\w+)\s+(\w+)\s*=\s*(\d+)\s*;', text):
        if tok.group(1):
            parent = stack[-1] if stack else None
            msg = (parent[0].nested_type if parent else fdp.message_type).add(name=tok.group(1))
            scope = f'{parent[1]}.{tok.group(1)}' if parent else f'.{tok.group(1)}'
            names.add(scope)
            stack.append((msg, scope))
        elif tok.group(0) == '}':
            stack.pop()
        else:
            label, typ, name, number = tok.group(2, 3, 4, 5)
            f = stack[-1][0].field.add(name=name, number=int(number), label=LABELS[label])
            if typ in SCALARS:
                f.type = SCALARS[typ]
            else:
                f.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                refs.append((f, typ, stack[-1][1]))
    # message type names resolve as in protoc: the innermost enclosing scope first
    for f, typ, scope in refs:
        parts = scope.split('.')
        cands = ['.'.join(parts[:i] + [typ]) for i in range(len(parts), 0, -1)]
        f.type_name = next(c for c in cands if c in names)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName('Checkpoint')
    get = getattr(message_factory, 'GetMessageClass', None)
    return get(desc) if get else message_factory.MessageFactory(pool).GetPrototype(desc)


Checkpoint = load_proto(PROTO)


class Writer:
    """save_checkpoint's file layout: one serialized Checkpoint per slice of a parameter's bytes, then
    (crc) b'crc_num' + the CRC-32 of everything written, 10 bytes big-endian."""

    def __init__(self, slice_bytes=512 * 1024 * 1024):
        self.slice_bytes, self.parts, self.crc = slice_bytes, [], 0

    def add(self, tag, tensor_type, dims, content):
        for i in range(0, max(len(content), 1), self.slice_bytes):
            ck = Checkpoint()
            v = ck.value.add()
            v.tag = tag
            v.tensor.dims.extend(dims)
            v.tensor.tensor_type = tensor_type
            v.tensor.tensor_content = content[i:i + self.slice_bytes]
            b = ck.SerializeToString()
            self.crc = binascii.crc32(b, self.crc)
            self.parts.append(b)

    def save(self, path, crc=False):
        whole = Checkpoint()
        whole.ParseFromString(b''.join(self.parts))  # as load_checkpoint parses it: one merged message
        assert len(whole.value) == len(self.parts)
        data = b''.join(self.parts) + (b'crc_num' + self.crc.to_bytes(10, byteorder='big') if crc else b'')
        Path(path).write_bytes(data)
        print(f'wrote {path}: {len(data)} bytes, {len(self.parts)} values{", CRC trailer" if crc else ""}')


def read_safetensors(path):
    """The format by hand: u64 header length, JSON header, raw little-endian data."""
    b = Path(path).read_bytes()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    meta = header.pop('__metadata__', {})
    out = {}
    for name, info in header.items():
        assert info['dtype'] == 'F32' or not name.startswith(('param.', 'grad.')), name
        lo, hi = info['data_offsets']
        out[name] = (info['shape'], b[8 + n + lo:8 + n + hi], info['dtype'])
    return out, meta


def f32(values):
    return struct.pack(f'<{len(values)}f', *values)


def shufflenet_fixture(src, dst):
    tensors, meta = read_safetensors(src)
    group = int(meta['group'])
    # the seed's cells: SequentialCell children are 0, 1, ...; BatchNorm2d registers moving_mean,
    # moving_variance, gamma, beta in that order
    bn = [('running_mean', 'moving_mean'), ('running_var', 'moving_variance'), ('weight', 'gamma'), ('bias', 'beta')]
    weights, moments = [], []  # (tag, dims, bytes)

    used = set()

    def take(name):
        used.add(f'param.{name}')
        return tensors[f'param.{name}']

    def conv(cell, groups):
        # GroupConv: one Conv2d per group, each [out/g, in/g, 1, 1]: the grouped weight's dim-0 blocks
        shape, data, _ = take(f'{cell}.weight')
        grad = tensors[f'grad.{cell}.weight'][1]
        part = len(data) // groups
        dims = [shape[0] // groups] + shape[1:]
        for k in range(groups):
            weights.append((f'{cell}.convs.{k}.weight', dims, data[k * part:(k + 1) * part]))
            moments.append((f'moments.{cell}.convs.{k}.weight', dims, grad[k * part:(k + 1) * part]))

    def plain(name):
        shape, data, _ = take(name)
        weights.append((name, shape, data))
        moments.append((f'moments.{name}', shape, tensors[f'grad.{name}'][1]))

    def batchnorm(cell):
        for ours, ms in bn:
            shape, data, _ = take(f'{cell}.{ours}')
            weights.append((f'{cell}.{ms}', shape, data))
            if ours in ('weight', 'bias'):  # moving statistics are not trainable: no moments
                moments.append((f'moments.{cell}.{ms}', shape, tensors[f'grad.{cell}.{ours}'][1]))

    plain('first_conv.0.weight')
    batchnorm('first_conv.1')
    units = sorted({int(k.split('.')[2]) for k in tensors if k.startswith('param.features.')})
    for n in units:
        p = f'features.{n}'
        first_group = n == 0  # the seed: idxstage == 0 and i == 0
        conv(f'{p}.branch_main_1.0', 1 if first_group else group)
        batchnorm(f'{p}.branch_main_1.1')
        plain(f'{p}.branch_main_2.0.weight')
        batchnorm(f'{p}.branch_main_2.1')
        conv(f'{p}.branch_main_2.2', group)
        batchnorm(f'{p}.branch_main_2.3')
    plain('classifier.weight')
    plain('classifier.bias')
    assert used == {k for k in tensors if k.startswith('param.')}, 'every param.* mapped'

    w = Writer()
    for tag, dims, data in weights:
        w.add(tag, 'Float32', dims, data)
    # nn.Momentum's own parameters, then its moments; Optimizer's global_step
    w.add('learning_rate', 'Float32', [], f32([0.05]))
    w.add('momentum', 'Float32', [], f32([0.9]))
    for tag, dims, data in moments:
        w.add(tag, 'Float32', dims, data)
    w.add('global_step', 'Int32', [1], struct.pack('<i', 1))
    w.save(dst, crc=True)


def small_fixture(dst):
    w = Writer(slice_bytes=64)
    w.add('w_f32', 'Float32', [3, 5], f32([i * 0.25 - 1 for i in range(15)]))
    w.add('w_sliced', 'Float32', [10, 4], f32([(i * 7 % 13) / 8 - 0.75 for i in range(40)]))  # 160 bytes: 3 Values
    w.add('w_f16', 'Float16', [2, 3], struct.pack('<6e', 1.5, -2.0, 65504.0, 2 ** -24, -0.0, 0.099975586))
    w.add('w_f64', 'Float64', [4], struct.pack('<4d', 1e-3, -7.25, 1 / 3, 2.0 ** 40))
    w.add('w_bf16', 'BFloat16', [3], b''.join(f32([v])[2:] for v in (1.0, -3.140625, 0.0078125)))  # f32's high half
    w.add('step', 'Int32', [1], struct.pack('<i', 7))
    w.add('count', 'Int64', [], struct.pack('<q', 2 ** 40 + 3))
    w.add('mask', 'UInt8', [5], bytes([0, 1, 2, 254, 255]))
    w.add('lr', 'Float32', [], f32([0.05]))
    # append_dict strings: dims [0], as numpy's np.array(str).tobytes(): UTF-32LE
    w.add('note', 'str', [0], 'ShuffleNet \u2713 \U0001d518'.encode('utf-32-le'))
    w.save(dst)


if __name__ == '__main__':
    root = Path(__file__).resolve().parents[2]
    if len(sys.argv) > 1:
        sys.exit('usage: /usr/bin/python3 scripts/mindspore_ckpt/make_fixtures.py (no arguments)')
    shufflenet_fixture(root / 'tests/fixtures/shufflenet_0.5x_g3.safetensors', root / 'tests/fixtures/shufflenet_0.5x_g3.ckpt')
    small_fixture(root / 'tests/fixtures/mindspore_small.ckpt')
