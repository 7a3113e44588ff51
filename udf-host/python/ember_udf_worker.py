"""Ember's Python UDF worker.

One long-lived process of a pool. The server starts it as
    python ember_udf_worker.py SOCKET_PATH MEMORY_LIMIT_BYTES
It connects to the Unix socket SOCKET_PATH, says hello, then serves requests one at a time:

    frame    = tag:u8 length:u32le payload
    'D' define  payload = header_len:u32le header(JSON) body      -> 'K' (ok) | 'E'
    'C' call    payload = function_id:u64le Arrow IPC stream      -> 'R' Arrow IPC stream | 'E'
    'E' error   payload = JSON {"kind", "message", "traceback"}

Data never travels as pickle: arguments arrive as one Arrow record batch, results go back
as one Arrow record batch. Only the function itself may be pickled (cloudpickle).
"""

import base64
import json
import linecache
import os
import socket
import struct
import sys
import traceback

import numpy as np
import pyarrow as pa

HEADER = struct.Struct("<BI")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

# Arrow type names the server uses in define headers.
TYPES = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "utf8": pa.string(),
    "large_utf8": pa.large_string(),
    "binary": pa.binary(),
    "date32": pa.date32(),
    "timestamp_us": pa.timestamp("us"),
    "timestamp_us_utc": pa.timestamp("us", tz="UTC"),
}
NUMPY_RESULT = {
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "float32": np.float32,
    "float64": np.float64,
}


def arrow_type(name):
    if name.startswith("decimal128:"):
        _, precision, scale = name.split(":")
        return pa.decimal128(int(precision), int(scale))
    return TYPES[name]


def read_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k
    return buf


def send(sock, tag, payload):
    sock.sendall(HEADER.pack(tag, len(payload)))
    sock.sendall(payload)


def send_error(sock, kind, message, tb=""):
    send(sock, ord("E"), json.dumps({"kind": kind, "message": message, "traceback": tb}).encode())


def user_traceback():
    """The traceback of the exception being handled, without this module's frames."""
    etype, value, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(etype, value, tb))


def python_version():
    return "%d.%d" % sys.version_info[:2]


class Function:
    def __init__(self, header, body):
        self.name = header["name"]
        self.kind = header["kind"]  # scalar | vectorized | aggregate | table
        self.vector_input = header.get("input", "arrow")  # arrow | pandas
        self.strict = header.get("strict", False)
        self.arg_types = [arrow_type(t) for t in header["arg_types"]]
        self.return_names = header["return_names"]
        self.return_type_names = header["return_types"]
        self.return_types = [arrow_type(t) for t in self.return_type_names]
        if header["format"] == "pickle":
            wanted = header.get("python_version", "")
            if wanted != python_version():
                raise ValueError(
                    "function %r was pickled by Python %s but Ember's UDF workers run Python %s; "
                    "register it from source instead (CREATE FUNCTION ... LANGUAGE python AS $$ def %s(...): ... $$) "
                    "or use a client with Python %s" % (self.name, wanted, python_version(), self.name, python_version())
                )
            import cloudpickle

            self.fn = cloudpickle.loads(base64.b64decode(body))
        else:
            source = body.decode()
            filename = "<function %s>" % self.name
            # Lets tracebacks show the lines of the function's source.
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            namespace = {"__name__": "ember_udf_" + self.name}
            exec(compile(source, filename, "exec"), namespace)
            if self.name not in namespace:
                raise ValueError("the function body must define %r (def %s(...): ...)" % (self.name, self.name))
            self.fn = namespace[self.name]
        if not callable(self.fn):
            raise ValueError("%r is not callable" % self.name)

    def call(self, batch):
        columns = batch.columns
        if self.kind == "scalar":
            return self.scalar(columns, batch.num_rows)
        if self.kind == "vectorized":
            return self.vectorized(columns, batch.num_rows)
        if self.kind == "aggregate":
            return self.aggregate(columns)
        if self.kind == "table":
            return self.table(columns)
        raise ValueError("unknown function kind %r" % self.kind)

    def scalar(self, columns, n):
        values = [python_values(c) for c in columns]
        fn = self.fn
        if self.strict and any(c.null_count for c in columns):
            # STRICT: NULL in, NULL out, without calling the function.
            results = [None if None in row else fn(*row) for row in zip(*values)]
            return self.result([pa.array(results, type=self.return_types[0], from_pandas=True)])
        if not values:
            results = [fn() for _ in range(n)]
        else:
            dtype = NUMPY_RESULT.get(self.return_type_names[0])
            results = map(fn, *values)
            if dtype is not None:
                # Fast path: straight into a numpy buffer; a None (NULL) result falls back.
                try:
                    return self.result([np.fromiter(results, dtype=dtype, count=n)])
                except (TypeError, ValueError):
                    results = map(fn, *values)
            results = list(results)
        return self.result([pa.array(results, type=self.return_types[0], from_pandas=True)])

    def vectorized(self, columns, n):
        if self.vector_input == "pandas":
            args = [c.to_pandas() for c in columns]
        else:
            args = columns
        out = self.fn(*args)
        if isinstance(out, pa.ChunkedArray):
            out = out.combine_chunks()
        array = out if isinstance(out, pa.Array) else pa.array(out, from_pandas=True)
        if array.type != self.return_types[0]:
            array = array.cast(self.return_types[0])
        if len(array) != n:
            raise ValueError("vectorized function %r returned %d values for %d rows" % (self.name, len(array), n))
        return self.result([array])

    def aggregate(self, columns):
        fn = self.fn
        if isinstance(fn, type):
            acc = fn()
            for row in zip(*(python_values(c) for c in columns)):
                acc.accumulate(*row)
            value = acc.finish()
        else:
            value = fn(*columns)
        if isinstance(value, pa.Scalar):
            value = value.as_py()
        elif isinstance(value, np.generic):
            value = value.item()
        return self.result([pa.array([value], type=self.return_types[0])])

    def table(self, columns):
        args = [c[0].as_py() for c in columns]
        rows = self.fn(*args)
        width = len(self.return_types)
        cols = [[] for _ in range(width)]
        for row in rows:
            if width == 1 and not isinstance(row, (tuple, list)):
                row = (row,)
            if len(row) != width:
                raise ValueError("table function %r yielded a row of %d values; it returns %d columns" % (self.name, len(row), width))
            for i, v in enumerate(row):
                cols[i].append(v)
        return self.result([pa.array(c, type=t) for c, t in zip(cols, self.return_types)])

    def result(self, arrays):
        return pa.RecordBatch.from_arrays(arrays, names=self.return_names)


def python_values(column):
    """Arrow column -> list of Python values (None for NULL), fast for null-free numbers."""
    t = column.type
    if column.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        return column.to_numpy(zero_copy_only=False).tolist()
    return column.to_pylist()


def encode_batch(batch):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def serve(sock):
    functions = {}
    hello = {"python_version": python_version(), "python": sys.version.split()[0], "pyarrow": pa.__version__, "pid": os.getpid()}
    send(sock, ord("H"), json.dumps(hello).encode())
    while True:
        try:
            tag, length = HEADER.unpack(read_exact(sock, HEADER.size))
            payload = read_exact(sock, length)
        except EOFError:
            return
        if tag == ord("D"):
            (header_len,) = U32.unpack_from(payload, 0)
            header = json.loads(bytes(payload[4 : 4 + header_len]))
            body = bytes(payload[4 + header_len :])
            try:
                functions[header["id"]] = Function(header, body)
                send(sock, ord("K"), b"")
            except Exception as e:
                send_error(sock, "define", "%s: %s" % (type(e).__name__, e), user_traceback())
        elif tag == ord("C"):
            (function_id,) = U64.unpack_from(payload, 0)
            function = functions.get(function_id)
            if function is None:
                send_error(sock, "protocol", "function %d is not defined in this worker" % function_id)
                continue
            try:
                reader = pa.ipc.open_stream(pa.py_buffer(memoryview(payload)[8:]))
                batch = reader.read_next_batch()
                out = function.call(batch)
            except MemoryError:
                send_error(sock, "memory", "MemoryError: the function exceeded the worker's memory limit", user_traceback())
                continue
            except Exception as e:
                send_error(sock, "raised", "%s: %s" % (type(e).__name__, e), user_traceback())
                continue
            send(sock, ord("R"), encode_batch(out))
        else:
            send_error(sock, "protocol", "unknown request tag %r" % tag)


def main():
    path, memory_limit = sys.argv[1], int(sys.argv[2])
    if memory_limit > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    # print() in a user function must not corrupt anything: stdout goes to stderr (the server log).
    sys.stdout = sys.stderr
    serve(sock)


if __name__ == "__main__":
    main()
