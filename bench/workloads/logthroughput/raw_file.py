"""The floor: a raw sequential file write with fsync per batch, and a sequential read.

Append: each record framed as a 4-byte big-endian length and the value; ``batch`` records
written with one ``write`` and made durable with one ``fsync`` (the embedded log's default
policy). Read: the file read in 1 MiB chunks, split back into one bytes object per record.
No checksums, no index, no offsets: what strom's embedded log adds on top is what the ratio
shows.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from bench.workloads.common import emit, load_config
from bench.workloads.logthroughput.common import Phase, payload

CHUNK = 1 << 20


def main() -> None:
    config = load_config()
    records, batch, size = int(config["records"]), int(config["batch"]), int(config["size"])
    path = Path(config["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    value = payload(size)
    frame = struct.pack(">I", size) + value

    phase = Phase()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for start in range(0, records, batch):
            n = min(batch, records - start)
            buf = b"".join([frame] * n)
            os.write(fd, buf)
            os.fsync(fd)
    finally:
        os.close(fd)
    append = phase.figures(records, size)

    phase = Phase()
    seen = 0
    unpack = struct.Struct(">I").unpack_from
    with path.open("rb", buffering=0) as f:
        rest = b""
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            buf = rest + chunk
            pos, end = 0, len(buf)
            values = []
            while pos + 4 <= end:
                (length,) = unpack(buf, pos)
                if pos + 4 + length > end:
                    break
                values.append(buf[pos + 4 : pos + 4 + length])
                pos += 4 + length
            seen += len(values)
            rest = buf[pos:]
    read = phase.figures(seen, size)
    emit({"phases": {"append": append, "read": read}})


if __name__ == "__main__":
    main()
