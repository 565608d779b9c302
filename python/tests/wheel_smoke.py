"""The aiofiles drop-in from an installed wheel, through its public API only: a file opened,
written, read back (text and binary) and stat'ed with ``import aopen.aiofiles as aiofiles``.
Run by install_test.sh in each fresh venv. Usage: python wheel_smoke.py SCRATCH_DIR
"""

import asyncio
import os
import sys

import aopen.aiofiles as aiofiles
import aopen.aiofiles.os

TEXT = "written through aopen.aiofiles\n"


async def main(directory):
    path = os.path.join(directory, "smoke.txt")
    async with aiofiles.open(path, "w") as f:
        await f.write(TEXT)
    async with aiofiles.open(path) as f:
        got = await f.read()
    assert got == TEXT, got
    async with aiofiles.open(path, "rb") as f:
        raw = await f.read()
    assert raw == TEXT.encode(), raw
    st = await aiofiles.os.stat(path)
    assert st.st_size == len(TEXT) == os.stat(path).st_size, st
    return st.st_size


if __name__ == "__main__":
    size = asyncio.run(main(sys.argv[1]))
    print(f"aopen.aiofiles: open, write, read and stat of {size} bytes on Python {sys.version.split()[0]}")
