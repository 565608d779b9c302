"""The build of aopen's wheel: what pyproject.toml cannot say.

libaopen is a C library that ctypes loads, not a CPython extension, so:
- it is bundled as ``aopen/_libaopen.so``, without an interpreter's tag in its name;
- the wheel is tagged ``py3-none-<platform>``: one wheel for every Python 3;
- the crate is one level up in a checkout, and an sdist cannot reach there, so the sdist
  carries a copy of it in ``rust/``, which a build from the sdist uses.
The crate's ``wheel`` profile (Cargo.toml) is the release build without debug info, in a
directory of its own beside make's ``target/release``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension

LIB = "aopen._libaopen"
# What cargo needs to build the library (tests, benches and C sources stay behind).
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "build.rs", "src"]
# The sdist's copy when there is one, else the checkout's crate. setuptools runs this file
# from the directory it is in.
CRATE = Path("rust") if Path("rust/Cargo.toml").is_file() else Path("..")


class BuildExt(build_ext):
    def get_ext_filename(self, fullname):
        # Asked with the full dotted name or with its last part (get_ext_fullpath).
        if fullname in (LIB, LIB.rpartition(".")[2]):
            return fullname.replace(".", "/") + ".so"
        return super().get_ext_filename(fullname)


class BdistWheel(bdist_wheel):
    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        for name in CRATE_FILES:
            src, dst = CRATE / name, Path(base_dir, "rust", name)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)


setup(
    rust_extensions=[
        RustExtension(
            LIB,
            path=str(CRATE / "Cargo.toml"),
            binding=Binding.NoBinding,
            args=["--locked", "--profile", "wheel"],
        )
    ],
    cmdclass={"build_ext": BuildExt, "bdist_wheel": BdistWheel, "sdist": Sdist},
)
