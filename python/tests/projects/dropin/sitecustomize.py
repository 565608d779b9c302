"""The drop-in switch for run_projects.sh: with this folder first on PYTHONPATH, Python imports
it at start-up, before any of a project's code, and every `import aiofiles[...]` in the process
then resolves to aopen.aiofiles."""

import sys

import aopen.aiofiles

if hasattr(aopen.aiofiles, "install"):
    aopen.aiofiles.install()
else:
    # Until install() lands: the switch a user tries first, module by module.
    sys.modules["aiofiles"] = aopen.aiofiles
    for _name in ("os", "ospath", "tempfile", "threadpool"):
        sys.modules["aiofiles." + _name] = getattr(aopen.aiofiles, _name)
