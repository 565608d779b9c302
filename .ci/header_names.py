#!/usr/bin/env python3
"""Fails unless every name the generated header declares is aopen_*, AOPEN_* or aclose_*.

Usage: header_names.py include/aopen.h. Run by `make check-header`."""
import re
import sys

text = open(sys.argv[1]).read()
# Drop comments, and the include guard, which is the header's own.
code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
code = re.sub(r"//[^\n]*", "", code)
names = set(re.findall(r"^#define\s+(\w+)", code, flags=re.M)) - {"AOPEN_H"}
names |= set(re.findall(r"\b(?:struct|enum|union)\s+(\w+)\s*\{", code))
names |= set(re.findall(r"\}\s*(\w+)\s*;", code))  # typedef struct {...} name;
names |= set(re.findall(r"typedef\s+[^;{]*?\(\s*\*\s*(\w+)\s*\)", code))  # function pointers
names |= set(re.findall(r"typedef\s+[^;{(]*?\b(\w+)\s*;", code))  # plain typedefs
names |= set(re.findall(r"^(?!typedef)[ \t\w*]*?\b(\w+)\s*\([^;]*\)\s*;", code, flags=re.M))  # functions
bad = sorted(n for n in names if not re.match(r"(aopen_|AOPEN_|aclose_)", n))
if bad:
    print("include/aopen.h declares names outside aopen_/AOPEN_/aclose_: " + ", ".join(bad))
    sys.exit(1)
print(f"check-header: {len(names)} names, all aopen_/AOPEN_/aclose_")
